package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// PolicyHeader formats one RateLimit-Policy item (draft-ietf-httpapi-
// ratelimit-headers-11): "name";q=<limit>;w=<seconds>, and the burst
// beyond it as an extension parameter.
func PolicyHeader(name string, r Rate) string {
	w := max(ceilSeconds(r.Period), 1)
	h := strconv.Quote(name) + ";q=" + strconv.Itoa(r.Limit) + ";w=" + strconv.FormatInt(w, 10)
	if r.Burst > 0 {
		h += ";redlane-burst=" + strconv.Itoa(r.Burst)
	}
	return h
}

// SetHeaders sets RateLimit-Policy and RateLimit for decision d under the
// limit named name, and Retry-After when d refused; it returns the seconds
// to wait (0 when allowed). Limits enforced outside the middleware (chat
// publishes) answer with it the way policies do.
func SetHeaders(h http.Header, name string, r Rate, d Decision) time.Duration {
	h.Set("RateLimit-Policy", PolicyHeader(name, r))
	if d.Allowed {
		h.Set("RateLimit", serviceLimit(name, d.Remaining, ceilSeconds(d.Refill)))
		return 0
	}
	retry := max(ceilSeconds(d.Refill), 1)
	h.Set("RateLimit", serviceLimit(name, 0, retry))
	return time.Duration(retry) * time.Second
}
