// Package jaegertest runs a real Jaeger v2 for tests: the binary that
// tools/jaeger/install.sh builds (pinned, from the Go module proxy), on
// loopback, on free ports, with in-memory storage, receiving OTLP over gRPC
// and HTTP; and a client for its query API, so tests assert on the traces
// Jaeger actually stored.
package jaegertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/redlane/redlane/internal/testproc"
)

// Version is the Jaeger release tools/jaeger/install.sh builds.
const Version = "v1.75.0"

// Server is one running Jaeger.
type Server struct {
	// OTLPGRPC is the OTLP/gRPC receiver as an endpoint URL
	// (http://127.0.0.1:port), OTLPHTTP the OTLP/HTTP one (traces at
	// /v1/traces), QueryURL the query API and UI.
	OTLPGRPC, OTLPHTTP, QueryURL string
	Dir                          string

	proc *testproc.Proc
}

// Binary finds the jaeger binary: $REDLANE_JAEGER, the tools cache that
// tools/jaeger/install.sh fills, or PATH. It skips the test when there is
// none, and fails instead under CI=true (.ci/run installs it).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("REDLANE_JAEGER"); p != "" {
		return p
	}
	root := os.Getenv("REDLANE_TOOLS_ROOT")
	if root == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		root = filepath.Join(cache, "redlane-tools")
	}
	if p := filepath.Join(root, "jaeger-"+Version, "jaeger"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("jaeger"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("jaeger %s is not installed; CI must build it (.ci/run runs tools/jaeger/install.sh)", Version)
	}
	t.Skipf("jaeger %s is not installed: bash tools/jaeger/install.sh", Version)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Start runs Jaeger until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	s := testproc.Retry(t, "jaeger", func() (*Server, error) { return launch(bin, dir) })
	t.Cleanup(s.Stop)
	return s
}

// config is a minimal Jaeger v2 (OpenTelemetry Collector) configuration:
// the OTLP receivers and the query API on the given loopback addresses, one
// in-memory store, and no listener on any of Jaeger's standard ports (its
// own metrics are off).
func config(grpcAddr, httpAddr, queryAddr, queryGRPCAddr string) map[string]any {
	return map[string]any{
		"service": map[string]any{
			"extensions": []string{"jaeger_storage", "jaeger_query"},
			"pipelines": map[string]any{"traces": map[string]any{
				"receivers":  []string{"otlp"},
				"processors": []string{"batch"},
				"exporters":  []string{"jaeger_storage_exporter"},
			}},
			"telemetry": map[string]any{
				"metrics": map[string]any{"level": "none"},
				"logs":    map[string]any{"level": "warn"},
			},
		},
		"extensions": map[string]any{
			"jaeger_storage": map[string]any{"backends": map[string]any{
				"mem": map[string]any{"memory": map[string]any{"max_traces": 10000}},
			}},
			"jaeger_query": query(queryAddr, queryGRPCAddr),
		},
		"receivers": map[string]any{"otlp": map[string]any{"protocols": map[string]any{
			"grpc": map[string]any{"endpoint": grpcAddr},
			"http": map[string]any{"endpoint": httpAddr},
		}}},
		"processors": map[string]any{"batch": map[string]any{"timeout": "100ms"}},
		"exporters":  map[string]any{"jaeger_storage_exporter": map[string]any{"trace_storage": "mem"}},
	}
}

// UIEnv names a directory holding a built Jaeger UI (jaeger-ui's
// packages/jaeger-ui/build) for Jaeger to serve at QueryURL. The Jaeger of
// the Go module proxy has none, and CI cannot build one (its source is on
// GitHub; docs/tracing.md says how a developer does).
const UIEnv = "REDLANE_JAEGER_UI"

// HasUI reports whether UIEnv names a built Jaeger UI.
func HasUI() bool {
	_, err := os.Stat(filepath.Join(os.Getenv(UIEnv), "index.html"))
	return os.Getenv(UIEnv) != "" && err == nil
}

func query(httpAddr, grpcAddr string) map[string]any {
	q := map[string]any{
		"storage": map[string]any{"traces": "mem"},
		"http":    map[string]any{"endpoint": httpAddr},
		"grpc":    map[string]any{"endpoint": grpcAddr},
	}
	if HasUI() {
		q["ui"] = map[string]any{"assets_path": os.Getenv(UIEnv)}
	}
	return q
}

func launch(bin, dir string) (*Server, error) {
	addrs, err := testproc.FreeAddrs(4)
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(config(addrs[0], addrs[1], addrs[2], addrs[3]))
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		return nil, err
	}
	proc, err := testproc.Start(bin, []string{"--config", "file:" + conf}, filepath.Join(dir, "jaeger.log"))
	if err != nil {
		return nil, err
	}
	s := &Server{
		OTLPGRPC: "http://" + addrs[0], OTLPHTTP: "http://" + addrs[1], QueryURL: "http://" + addrs[2],
		Dir: dir, proc: proc,
	}
	if err := proc.WaitReady(time.Minute, func() bool { return s.ready(addrs[0], addrs[1]) }); err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	return s, nil
}

// ready reports whether the query API answers and both receivers accept
// connections (the collector starts its receivers after its extensions).
func (s *Server) ready(receivers ...string) bool {
	resp, err := http.Get(s.QueryURL + "/api/services")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	for _, a := range receivers {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

// Stop terminates Jaeger and waits for it to exit. Safe to call twice.
func (s *Server) Stop() { s.proc.Stop() }

// Log is what Jaeger has logged so far.
func (s *Server) Log() string { return s.proc.Log() }

// Trace is a trace as the query API returns it (/api/traces).
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
}

// Span is one span of a Trace.
type Span struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []Reference `json:"references"`
	StartTime     int64       `json:"startTime"` // unix µs
	Duration      int64       `json:"duration"`  // µs
	Tags          []KeyValue  `json:"tags"`
	ProcessID     string      `json:"processID"`
}

// Reference is a span's parent (CHILD_OF) or link (FOLLOWS_FROM).
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// KeyValue is a span tag or a process (resource) attribute.
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Process is the resource that emitted spans.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

// Tag returns the value of the tag key, nil when absent.
func Tag(tags []KeyValue, key string) any {
	for _, kv := range tags {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// Parent is the span id of s's CHILD_OF reference, "" for a root.
func (s Span) Parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// Find returns the traces of service that have a span named operation,
// over the query API's default lookback (end: now).
func (s *Server) Find(ctx context.Context, service, operation string) ([]Trace, error) {
	return s.FindTagged(ctx, service, operation, nil)
}

// FindTagged is Find for the traces with a span of operation whose tags
// hold every key and value of tags (Jaeger matches their string forms).
func (s *Server) FindTagged(ctx context.Context, service, operation string, tags map[string]string) ([]Trace, error) {
	q := url.Values{"service": {service}, "limit": {"100"}}
	if operation != "" {
		q.Set("operation", operation)
	}
	if len(tags) > 0 {
		b, err := json.Marshal(tags)
		if err != nil {
			return nil, err
		}
		q.Set("tags", string(b))
	}
	return s.get(ctx, "/api/traces?"+q.Encode())
}

// Get returns the trace with id traceID.
func (s *Server) Get(ctx context.Context, traceID string) (Trace, error) {
	ts, err := s.get(ctx, "/api/traces/"+url.PathEscape(traceID))
	if err != nil {
		return Trace{}, err
	}
	if len(ts) != 1 {
		return Trace{}, fmt.Errorf("trace %s: %d traces in the answer", traceID, len(ts))
	}
	return ts[0], nil
}

func (s *Server) get(ctx context.Context, path string) ([]Trace, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.QueryURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Data   []Trace `json:"data"`
		Errors []struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET %s: %s: %w", path, resp.Status, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, ErrNotFound
	}
	if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		return nil, fmt.Errorf("GET %s: %s %v", path, resp.Status, out.Errors)
	}
	return out.Data, nil
}

// ErrNotFound is Get's error for a trace Jaeger does not (yet) hold.
var ErrNotFound = errors.New("jaegertest: trace not found")

// Wait polls until cond holds for what fetch returns, or ctx ends; spans
// reach the store asynchronously (exporter batches, then Jaeger's).
func Wait[T any](ctx context.Context, fetch func(context.Context) (T, error), cond func(T) bool) (T, error) {
	var (
		last T
		err  error
	)
	for {
		last, err = fetch(ctx)
		if err == nil && cond(last) {
			return last, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("condition not met")
			}
			return last, fmt.Errorf("waiting for jaeger: %w (%v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
