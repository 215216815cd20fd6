package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Var returns the path variable name of the matched route (e.g. "id" of
// /users/{id}). The server's dispatcher records variables in the request
// state (SetVars), which costs no request copy; a plain gorilla/mux router
// (as in some package tests) keeps them in the context, where Var reads
// them as a fallback.
func Var(r *http.Request, name string) string {
	if s := stateOf(r.Context()); s != nil && s.vars != nil {
		return s.vars[name]
	}
	return mux.Vars(r)[name]
}

// RouteOf returns the template of the matched route (e.g. /users/{id}):
// the one the server's router recorded (SetRouteTemplate), or, behind a
// plain gorilla/mux router, the one mux keeps in the context; "" when no
// route matched.
func RouteOf(r *http.Request) string {
	if tpl := Route(r.Context()); tpl != "" {
		return tpl
	}
	if cr := mux.CurrentRoute(r); cr != nil {
		tpl, _ := cr.GetPathTemplate()
		return tpl
	}
	return ""
}
