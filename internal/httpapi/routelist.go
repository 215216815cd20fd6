package httpapi

import (
	"regexp"
	"sort"

	"github.com/gorilla/mux"
)

// Route is one method and path template the router serves, with path
// variables written as in OpenAPI ({name}, without mux's regexp).
type Route struct {
	Method string
	Path   string
}

var muxVar = regexp.MustCompile(`\{([^}:]+):[^}]*\}`)

// Routes lists every method and path the router serves, sorted, by walking
// the router itself (so nothing can be registered without showing up here).
// HEAD, which every GET route answers too, is left out.
func (s *Server) Routes() ([]Route, error) {
	var out []Route
	err := s.router.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := rt.GetPathTemplate()
		if err != nil {
			return err
		}
		ms, err := rt.GetMethods()
		if err != nil {
			return err // a route without a method restriction: list it as a mistake
		}
		for _, m := range ms {
			if m == "HEAD" {
				continue
			}
			out = append(out, Route{Method: m, Path: muxVar.ReplaceAllString(tpl, "{$1}")})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out, err
}
