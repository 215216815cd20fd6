package web

import (
	"net/http"
	"strconv"
)

// QueryInt reads an integer query parameter within [lo, hi], def when
// absent; anything else is a 400 naming the parameter.
func QueryInt(r *http.Request, key string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, BadRequest(key, key+" must be an integer "+strconv.Itoa(lo)+"-"+strconv.Itoa(hi))
	}
	return n, nil
}
