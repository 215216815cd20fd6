package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Var returns the path variable name of the matched route (e.g. "id" of
// /users/{id}). The server's dispatcher records variables in the request
// state (SetVars), which costs no request copy; a plain gorilla/mux router
// (as in some package tests) keeps them in the context, and net/http's
// ServeMux in the request: Var reads those as fallbacks.
func Var(r *http.Request, name string) string {
	if s := stateOf(r.Context()); s != nil && s.vars != nil {
		return s.vars[name]
	}
	if v := r.PathValue(name); v != "" {
		return v
	}
	return mux.Vars(r)[name]
}
