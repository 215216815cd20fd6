package web

import (
	"math"
	"net/http"
	"strconv"
)

// QueryInt reads an integer query parameter within [lo, hi], def when
// absent; anything else is a 400 naming the parameter.
func QueryInt(r *http.Request, key string, def, lo, hi int) (int, error) {
	n, err := QueryInt64(r, key, int64(def), int64(lo), int64(hi))
	return int(n), err
}

// QueryInt64 is QueryInt for 64-bit values such as database ids; hi
// math.MaxInt64 means no upper bound.
func QueryInt64(r *http.Request, key string, def, lo, hi int64) (int64, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		want := strconv.FormatInt(lo, 10) + "-" + strconv.FormatInt(hi, 10)
		if hi == math.MaxInt64 {
			want = "of at least " + strconv.FormatInt(lo, 10)
		}
		return 0, BadRequest(key, key+" must be an integer "+want)
	}
	return n, nil
}
