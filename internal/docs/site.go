// Package docs serves Redlane's API documentation and browser demo: the
// OpenAPI 3.1 document (written per feature under openapi/, merged by
// Build), the Swagger UI explorer vendored from npm (ui/swagger-ui), and
// the chat demo page (ui/chat.*). Everything is embedded in the binary and
// works offline; the pages are served with a strict Content-Security-Policy.
package docs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

//go:embed ui
var uiFiles embed.FS

// Site serves the document, the explorer and the chat demo.
type Site struct {
	spec  *asset
	files map[string]*asset // by path under ui/
}

// asset is one file with its validator and, once asked for, its gzip form.
type asset struct {
	body  []byte
	ctype string
	etag  string
	once  sync.Once
	gz    []byte // nil when compressing does not pay
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // not left to the host's mime.types
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".html":
		ctype = "text/html; charset=utf-8"
	case ".json":
		ctype = "application/json"
	case ".png":
		ctype = "image/png"
	case "", ".txt", ".md":
		ctype = "text/plain; charset=utf-8"
	}
	return &asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// New builds the OpenAPI document (info.version = version) and indexes the
// embedded page files.
func New(version string) (*Site, error) {
	spec, err := Build(version)
	if err != nil {
		return nil, err
	}
	s := &Site{spec: newAsset("openapi.json", spec), files: map[string]*asset{}}
	err = fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		s.files[strings.TrimPrefix(p, "ui/")] = newAsset(p, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing embedded pages: %w", err)
	}
	return s, nil
}

// Spec returns the OpenAPI document (JSON).
func (s *Site) Spec() []byte { return s.spec.body }

// HandleOpenAPI serves GET /openapi.json.
func (s *Site) HandleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		s.spec.serve(w, r)
	})
}

// HandleDocs serves GET /docs, the Swagger UI page.
func (s *Site) HandleDocs() http.Handler { return s.page("docs.html") }

// HandleAdmin serves GET /admin, the operator console. The page holds no
// data and no logic of its own: it calls the documented admin API with the
// operator's token or admin session.
func (s *Site) HandleAdmin() http.Handler { return s.page("admin.html") }

// HandleChat serves GET /, the chat demo page.
func (s *Site) HandleChat() http.Handler { return s.page("chat.html") }

func (s *Site) page(name string) http.Handler {
	a := s.files[name]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == nil {
			web.Respond(w, r, errdefs.NotFound("This page is not built into the binary."))
			return
		}
		pageHeaders(w.Header())
		a.serve(w, r)
	})
}

// HandleAsset serves GET /ui/{file}: the pages' own scripts and styles.
func (s *Site) HandleAsset() http.Handler { return s.assets("") }

// HandleSwaggerAsset serves GET /ui/swagger-ui/{file}: the vendored Swagger
// UI's scripts, styles and images.
func (s *Site) HandleSwaggerAsset() http.Handler { return s.assets("swagger-ui") }

// assets serves the embedded files of dir.
func (s *Site) assets(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Join(dir, web.Var(r, "file"))
		a := s.files[name]
		if a == nil || strings.Contains(web.Var(r, "file"), "/") {
			web.Respond(w, r, errdefs.NotFound("No file %q in the embedded pages.", name))
			return
		}
		pageHeaders(w.Header())
		a.serve(w, r)
	})
}

// CSP is the Content-Security-Policy of the pages: scripts, styles and
// connections (HTTP and, by CSP Level 3's 'self', ws/wss) only from this
// origin; no inline script, no plugins, no framing, no base or form
// redirection. Images may also be data: URIs (Swagger UI's icons).
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// pageHeaders sets the security headers of every page and page file.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// serve answers with the file, revalidated by ETag on every use (the files
// change with the binary, and a 304 costs nothing), gzipped when the client
// takes it.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.body, a.etag
	if gz := a.gzipped(); gz != nil && acceptsGzip(r) {
		body, etag = gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// gzipped compresses the file the first time it is asked for.
func (a *asset) gzipped() []byte {
	a.once.Do(func() {
		if len(a.body) < 1024 || a.ctype == "image/png" {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		_, _ = zw.Write(a.body)
		if zw.Close() == nil && buf.Len() < len(a.body)*9/10 {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			v, err := strconv.ParseFloat(q, 64)
			return err == nil && v > 0
		}
		return true
	}
	return false
}
