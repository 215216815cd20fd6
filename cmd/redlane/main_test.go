package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a running `redlane serve` inside the test process.
type server struct {
	t      testing.TB
	URL    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// readyWithin bounds every wait for a server to start or become ready. It
// is generous because a wait ends as soon as the condition holds: on a
// starved 2-core machine under -race a start can take tens of seconds, and
// a test measures behaviour, not speed.
const readyWithin = 2 * time.Minute

// demoUsersSpec is the spec line (indented under spec:) that asks for the
// demo users user1..user300, password password123. Only the all-embedded
// mode (no Redis, no database configured) creates them unasked; a test on a
// real Redis with the embedded SQLite asks for them, as an operator would.
const demoUsersSpec = "  database: {seedUsers: 300}\n"

// withDemoUsers writes a RedlaneConfig that asks for the demo users and
// returns the serve args that load it.
func withDemoUsers(t testing.TB) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "demo-users.yaml")
	writeFile(t, p, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n"+demoUsersSpec)
	return []string{"--config", p}
}

// startServer runs serve with env as its whole environment and waits for
// /readyz (or, with wantReady false, for /healthz).
func startServer(t testing.TB, env map[string]string, args ...string) *server {
	t.Helper()
	return startServerAt(t, freeAddr(t), env, args...)
}

// startServerAt is startServer on a chosen address (one a scraper already
// watches).
func startServerAt(t testing.TB, addr string, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{t: t, URL: "http://" + addr, cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	argv := append([]string{"redlane", "serve", "--address", addr, "--env-file", filepath.Join(t.TempDir(), "none.env"), "--reload-interval", "50ms"}, args...)
	getenv := func(k string) string { return env[k] }
	go func() { s.done <- run(ctx, argv, getenv, io.Discard, s.logs) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(readyWithin)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case err := <-s.done:
			s.cancel = nil // nothing left to stop
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Error("serve did not stop within 30s")
	}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

func (s *server) do(method, path string, body string, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// waitStatus polls path until it answers want.
func (s *server) waitStatus(path string, want int, within time.Duration) response {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := s.do("GET", path, "")
		if r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("GET %s = %d %s, want %d within %s", path, r.Status, r.Body, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeFile replaces path atomically (write aside, then rename), as editors
// and ConfigMap updates do: the server's 50ms config watcher must never read
// a half-written file, which would load as defaults and bump the generation.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// metric reads one series from /metrics, matched whole: name with its
// labels exactly as exposed (`redlane_x_total` or `redlane_x{a="b"}`); it
// fails the test when the series is absent.
func (s *server) metric(series string) float64 {
	s.t.Helper()
	v, ok := seriesValue(string(s.do("GET", "/metrics", "").Body), series)
	if !ok {
		s.t.Fatalf("no series %s in /metrics", series)
	}
	return v
}

// seriesValue finds series in a Prometheus text exposition.
func seriesValue(exposition, series string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return v, err == nil
		}
	}
	return 0, false
}
