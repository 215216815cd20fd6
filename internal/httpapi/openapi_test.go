package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redlane/redlane/internal/cache"
	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/docs"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/users"
)

// allFeatures is Deps with every optional service present, so the router
// registers every route a fully wired server has. Handlers are only built,
// never called: zero values are enough for most services, and new pointer
// fields are filled automatically, so a feature added to Deps shows up here
// without edits. Services whose handler makers read their own state at
// construction (the cache) are built for real, on a client that never
// connects.
func allFeatures(t *testing.T) Deps {
	t.Helper()
	site, err := docs.New("test")
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{
		Config:   config.NewStore(config.Default(), ""),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(),
		Probes:   NewProbes(time.Second, nil),
		Docs:     site,
	}
	d.Cache = cache.New(&redisx.Client{}, d.Config, cache.Options{Logger: d.Logger})
	d.UsersAPI = users.New(d.Cache, nil, d.Config, users.Options{Logger: d.Logger})
	v := reflect.ValueOf(&d).Elem()
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		if f.Kind() == reflect.Pointer && f.IsNil() && name != "Tracing" {
			f.Set(reflect.New(f.Type().Elem()))
		}
	}
	return d
}

// The OpenAPI document and the router agree: every route the router serves
// is documented (method and path template), and every documented operation
// is a route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	d := allFeatures(t)
	routes, err := NewServer(d).Routes()
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 20 {
		t.Fatalf("only %d routes walked: %v", len(routes), routes)
	}
	served := map[string]bool{}
	for _, r := range routes {
		served[r.Method+" "+r.Path] = true
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(d.Docs.Spec(), &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	var missing, stale []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	for _, k := range missing {
		t.Errorf("route %s is not in the OpenAPI document (internal/docs/openapi/*.yaml)", k)
	}
	for _, k := range stale {
		t.Errorf("the OpenAPI document has %s, but the router does not serve it", k)
	}
}

// Routes sees mux's regexp path variables as plain OpenAPI ones.
func TestRoutesNormalizesVariables(t *testing.T) {
	routes, err := NewServer(allFeatures(t)).Routes()
	if err != nil {
		t.Fatal(err)
	}
	want := Route{Method: "POST", Path: "/locks/{name}"} // registered as /locks/{name:.+}
	for _, r := range routes {
		if r == want {
			return
		}
	}
	t.Errorf("%v not among %v", want, routes)
}
