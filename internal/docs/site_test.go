package docs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"golang.org/x/net/html"
)

func newSite(t *testing.T) *Site {
	t.Helper()
	s, err := New("test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The vendored Swagger UI files are exactly the ones recorded in vendor.go,
// byte for byte.
func TestVendoredSwaggerUIChecksums(t *testing.T) {
	dir := "ui/" + swaggerUI.Dir
	seen := map[string]bool{}
	err := fs.WalkDir(uiFiles, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(p, dir+"/")
		seen[name] = true
		want, ok := swaggerUI.Files[name]
		if !ok {
			t.Errorf("%s is not recorded in vendor.go (vendored files come from swagger-ui.sh)", p)
			return nil
		}
		b, _ := uiFiles.ReadFile(p)
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, vendor.go records %s (%s@%s): edited or replaced", p, got, want, swaggerUI.Package, swaggerUI.Version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range swaggerUI.Files {
		if !seen[name] {
			t.Errorf("%s/%s is recorded but missing", dir, name)
		}
	}
	if !strings.HasPrefix(swaggerUI.Integrity, "sha512-") {
		t.Errorf("integrity %q is not npm's sha512", swaggerUI.Integrity)
	}
}

// The pages obey their own CSP: no inline script, no inline handlers or
// styles, nothing loaded from another origin, and every file they load is
// embedded.
func TestPagesNeedNothingInline(t *testing.T) {
	s := newSite(t)
	for _, page := range []string{"docs.html", "chat.html"} {
		t.Run(page, func(t *testing.T) {
			z := html.NewTokenizer(bytes.NewReader(s.files[page].body))
			scripts := 0
			for {
				tt := z.Next()
				if tt == html.ErrorToken {
					if z.Err() != io.EOF {
						t.Fatal(z.Err())
					}
					break
				}
				if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
					continue
				}
				tok := z.Token()
				attrs := map[string]string{}
				for _, a := range tok.Attr {
					attrs[a.Key] = a.Val
					if strings.HasPrefix(a.Key, "on") || a.Key == "style" {
						t.Errorf("<%s %s=...>: inline code or style is refused by the CSP", tok.Data, a.Key)
					}
				}
				if tok.Data == "style" {
					t.Errorf("<style> element: inline styles are refused by the CSP")
				}
				if tok.Data == "script" {
					scripts++
					if attrs["src"] == "" {
						t.Errorf("inline <script>: refused by the CSP")
					}
				}
				for _, k := range []string{"src", "href"} {
					u := attrs[k]
					if u == "" || (tok.Data == "a" && k == "href" && !strings.HasPrefix(u, "/ui/")) {
						continue
					}
					if !strings.HasPrefix(u, "/ui/") {
						t.Errorf("<%s %s=%q>: pages load only embedded /ui/ files", tok.Data, k, u)
					} else if s.files[strings.TrimPrefix(u, "/ui/")] == nil {
						t.Errorf("<%s %s=%q>: no such embedded file", tok.Data, k, u)
					}
				}
			}
			if scripts == 0 {
				t.Error("no script found: is the page parsed?")
			}
		})
	}
}

// The chat page never handles a session token: it relies on the HttpOnly
// cookie, so no token can end up in a URL, storage or a log.
func TestChatPageNeverTouchesTokens(t *testing.T) {
	js := string(newSite(t).files["chat.js"].body)
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`session_token`),
		regexp.MustCompile(`[?&]token=`),
		regexp.MustCompile(`localStorage`),
		regexp.MustCompile(`Authorization`),
		regexp.MustCompile(`\.innerHTML\s*=`),
	} {
		if bad.MatchString(js) {
			t.Errorf("chat.js matches %s", bad)
		}
	}
}

func get(t *testing.T, h http.Handler, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	if strings.HasPrefix(target, "/ui/") {
		r = mux.SetURLVars(r, map[string]string{"file": path.Base(target)})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPageHeaders(t *testing.T) {
	s := newSite(t)
	for name, h := range map[string]http.Handler{"/": s.HandleChat(), "/docs": s.HandleDocs(), "/ui/chat.js": s.HandleAsset()} {
		w := get(t, h, name)
		if w.Code != 200 {
			t.Fatalf("GET %s = %d", name, w.Code)
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": CSP,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", name, k, got, want)
			}
		}
	}
	for _, directive := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(CSP, directive) {
			t.Errorf("CSP lacks %s", directive)
		}
	}
	if strings.Contains(CSP, "unsafe-") {
		t.Errorf("CSP allows something unsafe: %s", CSP)
	}
}

func TestAssetsServing(t *testing.T) {
	s := newSite(t)
	cases := []struct{ file, ctype string }{
		{"chat.js", "text/javascript; charset=utf-8"},
		{"chat.css", "text/css; charset=utf-8"},
		{"swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
		{"swagger-ui/favicon-32x32.png", "image/png"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			h := s.HandleAsset()
			if path.Dir(c.file) == "swagger-ui" {
				h = s.HandleSwaggerAsset()
			}
			want := s.files[c.file].body
			plain := get(t, h, "/ui/"+c.file)
			if plain.Code != 200 || plain.Header().Get("Content-Type") != c.ctype || !bytes.Equal(plain.Body.Bytes(), want) {
				t.Fatalf("plain: %d %q, %d bytes", plain.Code, plain.Header().Get("Content-Type"), plain.Body.Len())
			}
			etag := plain.Header().Get("ETag")
			if again := get(t, h, "/ui/"+c.file, "If-None-Match", etag); again.Code != http.StatusNotModified {
				t.Errorf("If-None-Match %s: %d, want 304", etag, again.Code)
			}
			gz := get(t, h, "/ui/"+c.file, "Accept-Encoding", "br, gzip")
			if path.Ext(c.file) == ".png" {
				if gz.Header().Get("Content-Encoding") != "" {
					t.Error("a PNG was gzipped")
				}
				return
			}
			if gz.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("Accept-Encoding gzip: Content-Encoding %q", gz.Header().Get("Content-Encoding"))
			}
			if gz.Header().Get("ETag") == etag {
				t.Error("the gzipped and plain forms share an ETag")
			}
			zr, err := gzip.NewReader(gz.Body)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(zr)
			if !bytes.Equal(got, want) {
				t.Error("gunzipped body differs from the file")
			}
			if no := get(t, h, "/ui/"+c.file, "Accept-Encoding", "gzip;q=0"); no.Header().Get("Content-Encoding") != "" {
				t.Error("gzip;q=0 got gzip")
			}
		})
	}
	for _, bad := range []string{"nope.js", "../openapi.go", "swagger-ui", "", "swagger-ui/LICENSE"} {
		w := get(t, s.HandleAsset(), "/ui/"+bad)
		if w.Code != 404 || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("/ui/%s: %d %s, want a 404 problem", bad, w.Code, w.Header().Get("Content-Type"))
		}
	}
}

func TestOpenAPIHandler(t *testing.T) {
	s := newSite(t)
	w := get(t, s.HandleOpenAPI(), "/openapi.json")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || !bytes.Equal(w.Body.Bytes(), s.Spec()) {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w2 := get(t, s.HandleOpenAPI(), "/openapi.json", "If-None-Match", w.Header().Get("ETag")); w2.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d", w2.Code)
	}
}
