package httpapi

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/redlane/redlane/internal/web"
)

// Header limits (docs/api.md, "Input rules"). MaxHeaderBytes goes to
// http.Server: net/http itself answers a request line and headers larger
// than it (plus its own 4 KiB slack) with a plain 431 before any handler
// runs, so a 1 MB header value costs the server a bounded read, not a
// parse. MaxHeaderFields is checked here, because net/http counts bytes,
// not lines: 10,000 tiny headers fit in 64 KiB.
const (
	MaxHeaderBytes  = 64 << 10
	MaxHeaderFields = 100
)

// singletonHeaders may be sent once. With two Authorization headers
// net/http's Get returns the first while a proxy in front may have checked
// the second; which one is meant cannot be known, so it is a 400.
var singletonHeaders = []string{"Authorization", "X-Admin-Token", "Lock-Token", "Idempotency-Key", "Content-Type"}

// checkHeaders answers 431 for a request with more than MaxHeaderFields
// header lines and 400 naming the header sent twice for singletonHeaders.
func checkHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 0
		for _, vs := range r.Header {
			n += len(vs)
		}
		if n > MaxHeaderFields {
			web.WriteProblem(w, r, web.Errorf(http.StatusRequestHeaderFieldsTooLarge, "header-too-large",
				"The request has %d header fields; at most %d are accepted.", n, MaxHeaderFields))
			return
		}
		for _, h := range singletonHeaders {
			if len(r.Header[h]) > 1 {
				web.WriteProblem(w, r, web.BadRequest(h, h+" must be sent once, not "+strconv.Itoa(len(r.Header[h]))+" times"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// maxLogged is how much of a caller-chosen string (the path, the
// User-Agent) the access log keeps.
const maxLogged = 1024

// clipForLog is s as the access log writes it: at most maxLogged bytes (cut
// on a rune boundary), then a marker saying how long it was, so a huge path
// cannot blow up a log line or a log store.
func clipForLog(s string) string {
	if len(s) <= maxLogged {
		return s
	}
	cut := maxLogged
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[truncated, " + strconv.Itoa(len(s)) + " bytes]"
}
