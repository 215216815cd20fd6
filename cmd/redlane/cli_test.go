package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/redlane/redlane/internal/redistest"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"redlane"}, args...), func(k string) string { return env[k] }, &out, &errb)
	return out.String(), errb.String(), err
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  redis: {url: 'redis://localhost:6379/0'}\n")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  redis: {url: 'http://x', porrt: 1}\n  log: {level: loud}\n")
	worse := filepath.Join(dir, "worse.yaml")
	writeFile(t, worse, "spec:\n  log: {level: loud}\n  server: {maxBodyBytes: 0, address: nope}\n"+
		"  realtime: {roomPolicies: [{match: 'team:{id', subscribe: [anyone]}, {match: 'dm:{a},{b}', subscribe: ['{c}']}]}\n")

	if out, _, err := runCLI(t, nil, "config", "check", "-f", good); err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("good file: %v %q", err, out)
	}
	_, stderr, err := runCLI(t, nil, "config", "check", "-f", bad)
	if err == nil || !strings.Contains(stderr, "spec.redis.porrt: unknown field") {
		t.Fatalf("bad file: %v\n%s", err, stderr)
	}
	_, stderr, err = runCLI(t, nil, "config", "check", "-f", worse)
	for _, want := range []string{"spec.log.level", "spec.server.address", "spec.realtime.roomPolicies[0].match", "spec.realtime.roomPolicies[1].subscribe[0]"} {
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("worse file should list %s: %v\n%s", want, err, stderr)
		}
	}
	// A duplicate key does not hide the other problems.
	dup := filepath.Join(dir, "dup.yaml")
	writeFile(t, dup, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  log: {level: loud}\n  redis: {porrt: 1}\n  log: {format: fancy}\n  server: {address: nope}\n")
	_, stderr, err = runCLI(t, nil, "config", "check", "--no-env", "-f", dup)
	for _, want := range []string{"4 problem(s)", `spec.log: key "log" already set on line 4, set again on line 6`, "spec.redis.porrt: unknown field", "spec.log.format: must be one of", "spec.server.address: must be HOST:PORT"} {
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("file with a duplicate key should list %q: %v\n%s", want, err, stderr)
		}
	}
	// The environment counts unless --no-env.
	if _, stderr, err = runCLI(t, map[string]string{"REDIS_PORT": "x"}, "config", "check", "-f", good); err == nil || !strings.Contains(stderr, "env REDIS_PORT") {
		t.Errorf("bad env not reported: %v %s", err, stderr)
	}
	if _, _, err = runCLI(t, map[string]string{"REDIS_PORT": "x"}, "config", "check", "--no-env", "-f", good); err != nil {
		t.Errorf("--no-env still read the environment: %v", err)
	}
	if _, _, err := runCLI(t, nil, "config", "check"); err == nil {
		t.Error("check without -f succeeded")
	}
}

func TestConfigDefaultRoundTrips(t *testing.T) {
	out, _, err := runCLI(t, nil, "config", "default")
	if err != nil || !strings.Contains(out, "kind: RedlaneConfig") || !strings.Contains(out, "# ") {
		t.Fatalf("config default: %v\n%s", err, out)
	}
	p := filepath.Join(t.TempDir(), "default.yaml")
	writeFile(t, p, out)
	if _, stderr, err := runCLI(t, nil, "config", "check", "-f", p); err != nil {
		t.Fatalf("printed default does not check: %s", stderr)
	}
}

func TestConfigSchemaAndVersionAndHelp(t *testing.T) {
	out, _, err := runCLI(t, nil, "config", "schema")
	var schema map[string]any
	if err != nil || json.Unmarshal([]byte(out), &schema) != nil || schema["additionalProperties"] != false {
		t.Fatalf("config schema: %v\n%.200s", err, out)
	}
	if out, _, err := runCLI(t, nil, "version"); err != nil || !strings.HasPrefix(out, "redlane ") {
		t.Fatalf("version: %v %q", err, out)
	}
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"config", "--help"}, {"config", "check", "--help"}, {"config", "default", "--help"}, {"config", "schema", "--help"}, {"version", "--help"}} {
		out, _, err := runCLI(t, nil, args...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if _, _, err := runCLI(t, nil, "nonsense"); err == nil {
		t.Error("unknown command succeeded")
	}
}

// TestHelpSaysWhatIsTrue: serve --help states the precedence the config
// package implements (TestPrecedence there) and the profiling flag; db
// --help describes only the subcommands db has.
func TestHelpSaysWhatIsTrue(t *testing.T) {
	out, _, err := runCLI(t, nil, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"defaults < file (--config or REDLANE_CONFIG) < .env (--env-file) < environment < --address",
		"An empty environment variable counts as unset",
		"--pprof-address", "/debug/pprof/", "Off by",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help does not say %q:\n%s", want, out)
		}
	}

	out, _, err = runCLI(t, nil, "db", "--help")
	if err != nil {
		t.Fatal(err)
	}
	_, cmds, _ := strings.Cut(out, "Available Commands:")
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(cmds), "\n") {
		names = append(names, strings.Fields(line)[0])
	}
	if strings.Join(names, " ") != "migrate seed" {
		t.Errorf("db subcommands = %v, want migrate seed", names)
	}
	for _, absent := range []string{"inspect", "status"} {
		if strings.Contains(out, absent) {
			t.Errorf("db --help mentions %q, which db does not do:\n%s", absent, out)
		}
	}
}

// otlpReceiver is a minimal OTLP/HTTP trace endpoint that keeps span names.
type otlpReceiver struct {
	mu    sync.Mutex
	names []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				o.names = append(o.names, s.Name)
			}
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(b)
}

func (o *otlpReceiver) spanNames() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.names, "|")
}

func TestNoTracingWithoutEndpoint(t *testing.T) {
	rs := redistest.Start(t)
	recv := &otlpReceiver{}
	col := httptest.NewServer(recv)
	defer col.Close()
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": col.URL})
	s.do("GET", "/health", "")
	s.stop()
	if n := recv.spanNames(); n != "" {
		t.Fatalf("spans exported with OTEL_TRACES_EXPORTER=none: %s", n)
	}
}
