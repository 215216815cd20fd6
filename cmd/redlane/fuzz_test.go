package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redistest"
)

// The fuzz targets of this file drive the real server (run) on a real
// redis-server: one of each per test process, shared by every input. Plain
// `go test` runs their seed corpora (testdata/fuzz/<target>); `make fuzz
// FUZZTIME=30s` fuzzes each for that long (docs/testing.md).

// fuzzServer is the server the fuzz targets share, with the Redis behind it.
type fuzzServer struct {
	*server
	rdb redis.UniversalClient
}

var (
	fuzzOnce  sync.Once
	fuzzSrv   *fuzzServer
	fuzzRooms atomic.Int64 // FuzzChatFrames' rooms, one per input
)

// sharedFuzzServer starts the server on the first call. Long polls are cut
// to 2.4 s (writeTimeout 3s) so an input asking to wait an hour costs a few
// seconds. Not less: the write deadline covers the whole request, and a
// login or user creation (password hashing) took over 500 ms on a 2-core
// machine at load 20, which the server then cut off (the client saw EOF).
func sharedFuzzServer(f *testing.F) *fuzzServer {
	fuzzOnce.Do(func() {
		// Started for the whole process: stopped when it exits (the server
		// and redis-server are children of no test).
		rs := redistest.Start(noCleanup{f}, redistest.WithArgs("--enable-debug-command", "local"))
		p := filepath.Join(f.TempDir(), "fuzz.yaml")
		writeFile(f, p, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n"+demoUsersSpec+
			"  server: {writeTimeout: 3s}\n")
		s := startServer(noCleanup{f}, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, "--config", p)
		s.waitStatus("/readyz", 200, readyWithin)
		fuzzSrv = &fuzzServer{server: s, rdb: rs.Client()}
	})
	if fuzzSrv == nil {
		f.Fatal("the fuzz server did not start")
	}
	return fuzzSrv
}

// noCleanup keeps the shared server and Redis for the whole process: the
// first fuzz target's cleanups would otherwise stop them under the next.
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}

// keyState is one Redis key as a snapshot holds it.
type keyState struct {
	digest string
	pttl   time.Duration
}

// snapshot is the digest (DEBUG DIGEST-VALUE) and time to live of every
// key but the cache statistics, which each pod adds its counts of earlier
// cache reads to every few seconds (internal/cache keys.go).
type snapshot map[string]keyState

func (fs *fuzzServer) snapshot(t *testing.T) snapshot {
	ctx := context.Background()
	keys, err := fs.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return strings.HasSuffix(k, "cache:stats") })
	out := snapshot{}
	if len(keys) == 0 {
		return out
	}
	args := []any{"DEBUG", "DIGEST-VALUE"}
	pipe := fs.rdb.Pipeline()
	ttls := make([]*redis.DurationCmd, len(keys))
	for i, k := range keys {
		args = append(args, k)
		ttls[i] = pipe.PTTL(ctx, k)
	}
	digests, err := fs.rdb.Do(ctx, args...).StringSlice()
	if err != nil || len(digests) != len(keys) {
		t.Fatalf("DEBUG DIGEST-VALUE: %v", err)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	for i, k := range keys {
		out[k] = keyState{digest: digests[i], pttl: ttls[i].Val()}
	}
	return out
}

// quiet waits (up to 5 s) until Redis stops changing, so that what an
// earlier input started in the background (a cache warm, a lease running
// out) is not taken for the next input's doing: no cache warm running, and
// the same data in three snapshots over at least 50 ms.
func (fs *fuzzServer) quiet(t *testing.T) snapshot {
	prev, same := fs.snapshot(t), 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && same < 2; {
		time.Sleep(25 * time.Millisecond)
		cur := fs.snapshot(t)
		same++
		if len(changes(prev, cur)) > 0 || warming(cur) {
			same = 0
		}
		prev = cur
	}
	return prev
}

// warming reports a cache warm in progress: its lock is held.
func warming(s snapshot) bool {
	for k := range s {
		if strings.HasSuffix(k, "lock:{cache-warm}") {
			return true
		}
	}
	return false
}

// changes lists the keys that differ between two snapshots, leaving out
// those that ran out meanwhile: less than 5 s to live before, or gone
// already when the snapshot read its time to live (PTTL -2).
func changes(before, after snapshot) []string {
	var out []string
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok && b.pttl != -1 && b.pttl < 5*time.Second:
		case !ok || a.digest != b.digest:
			out = append(out, k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// request sends one request with a deadline; the answer's body is read.
func (fs *fuzzServer) request(t *testing.T, method, path, body string, headers ...string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, fs.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// bodyEndpoints are the endpoints that read a JSON body, each as a client
// allowed to call it would (admin endpoints with the admin token).
var bodyEndpoints = []struct {
	method, path string
	admin        bool
}{
	{"POST", "/auth/login", false},
	{"POST", "/chat/message", false},
	{"POST", "/cache/clear", true},
	{"POST", "/cache/warm", true},
	{"POST", "/users", true},
	{"PUT", "/users/2", true},
	{"PATCH", "/users/2", true},
	{"POST", "/locks/fuzz", false},
	{"PUT", "/locks/fuzz", false},
	{"DELETE", "/locks/fuzz", false},
	{"POST", "/queues/fuzz/tasks", false},
	{"POST", "/queues/fuzz/claim", false},
	{"POST", "/queues/fuzz/tasks/0123456789abcdef01234567/ack", false},
	{"POST", "/queues/fuzz/tasks/0123456789abcdef01234567/nack", false},
	{"POST", "/queues/fuzz/tasks/0123456789abcdef01234567/extend", false},
	{"POST", "/leaderboards/fuzz/scores", false},
	{"POST", "/queues/claim", false}, // appended: the seeds name endpoints by index
}

// rejected are the answers to bad input, which must change nothing.
func rejected(code int) bool {
	return code == 400 || code == 413 || code == 415 || code == 422 || code == 431
}

// FuzzJSONBodies sends any body to any endpoint that reads one: the answer
// is a 2xx or a 4xx, never a 5xx, and an answer refusing the input (400,
// 413, 415, 422) leaves Redis exactly as it was (DEBUG DIGEST-VALUE of each
// key, once what earlier inputs started has settled), users
// included: their cache entries are read first, so a write would drop them.
func FuzzJSONBodies(f *testing.F) {
	fs := sharedFuzzServer(f)
	f.Fuzz(func(t *testing.T, endpoint uint8, body string) {
		ep := bodyEndpoints[int(endpoint)%len(bodyEndpoints)]
		var headers []string
		if ep.admin {
			headers = []string{"Authorization", "Bearer " + adminToken}
		}
		if strings.HasPrefix(ep.path, "/users") {
			fs.request(t, "GET", "/users/2", "")
		}
		before := fs.quiet(t)
		code, answer := fs.request(t, ep.method, ep.path, body, headers...)
		if code >= 500 || code < 200 {
			t.Fatalf("%s %s %q = %d %s", ep.method, ep.path, body, code, answer)
		}
		if rejected(code) {
			if ch := changes(before, fs.snapshot(t)); len(ch) > 0 {
				t.Fatalf("%s %s %q = %d %s, and Redis changed: %v", ep.method, ep.path, body, code, answer, ch)
			}
			if !strings.Contains(answer, `"type":"https://redlane.dev/problems/`) {
				t.Fatalf("%s %s %q = %d %s: not a problem", ep.method, ep.path, body, code, answer)
			}
		}
	})
}

// queryEndpoints are the endpoints that read query parameters.
var queryEndpoints = []string{
	"/users", "/chat/history", "/chat/rooms", "/chat/presence", "/leaderboards/fuzz",
	"/leaderboards/fuzz/members/m", "/cache/warm", "/cache/stats", "/queues/fuzz",
	"/queues/fuzz/dead", "/auth/analytics", "/health", "/readyz",
}

// FuzzQueryParams sends any query string to the endpoints that read one:
// 2xx or 4xx, never a 5xx.
func FuzzQueryParams(f *testing.F) {
	fs := sharedFuzzServer(f)
	f.Fuzz(func(t *testing.T, endpoint uint8, query string) {
		path := queryEndpoints[int(endpoint)%len(queryEndpoints)]
		u, err := url.Parse(fs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		u.RawQuery = strings.Map(func(r rune) rune { // what a client can put in a request line
			if r <= ' ' || r == '#' || r == 0x7f || r == utf8.RuneError {
				return -1
			}
			return r
		}, query)
		code, answer := fs.request(t, "GET", strings.TrimPrefix(u.String(), fs.URL), "", "Authorization", "Bearer "+adminToken)
		if code >= 500 || code < 200 {
			t.Fatalf("GET %s?%s = %d %s", path, u.RawQuery, code, answer)
		}
	})
}

// FuzzCacheClearPattern sends any pattern and any key to POST /cache/clear:
// 2xx or 4xx, never a 5xx; a refused one deletes nothing.
func FuzzCacheClearPattern(f *testing.F) {
	fs := sharedFuzzServer(f)
	f.Fuzz(func(t *testing.T, pattern string, asKey bool) {
		fs.request(t, "GET", "/users/1", "")
		body, _ := json.Marshal(map[string]string{"pattern": pattern})
		if asKey {
			body, _ = json.Marshal(map[string][]string{"keys": {pattern}})
		}
		before := fs.quiet(t)
		code, answer := fs.request(t, "POST", "/cache/clear", string(body), "Authorization", "Bearer "+adminToken)
		if code >= 500 || code < 200 {
			t.Fatalf("clear %s = %d %s", body, code, answer)
		}
		if ch := changes(before, fs.snapshot(t)); rejected(code) && len(ch) > 0 {
			t.Fatalf("clear %s = %d %s, and Redis changed: %v", body, code, answer, ch)
		}
	})
}

// FuzzChatFrames sends any frame on a chat socket: the socket answers a
// ping after it (or was closed with a documented code: 1003 for a binary
// frame, 1009 for one too large), and nothing that is not valid UTF-8
// without NUL is ever published.
func FuzzChatFrames(f *testing.F) {
	fs := sharedFuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		// A room of its own: a message published by an earlier input may
		// still be on its way to the room's members.
		room := fmt.Sprintf("fuzz-%d", fuzzRooms.Add(1))
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(fs.URL, "http")+"/ws/chat/"+room, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		mt := websocket.TextMessage
		if binary {
			mt = websocket.BinaryMessage
		}
		if err := ws.WriteMessage(mt, data); err != nil {
			t.Fatalf("write: %v", err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","ref":"fuzz-end"}`)); err != nil && !binary {
			t.Fatalf("write ping: %v", err)
		}
		for {
			_, msg, err := ws.ReadMessage()
			if ce, ok := err.(*websocket.CloseError); ok {
				if !(binary && ce.Code == websocket.CloseUnsupportedData) && ce.Code != websocket.CloseMessageTooBig {
					t.Fatalf("frame %q: closed with %d %s", data, ce.Code, ce.Text)
				}
				return
			}
			if err != nil {
				t.Fatalf("frame %q (binary %v): %v", data, binary, err)
			}
			var fr struct {
				Type, Text, Ref string
			}
			if err := json.Unmarshal(msg, &fr); err != nil {
				t.Fatalf("server frame is not JSON: %q", msg)
			}
			switch {
			case fr.Type == "message" && (binary || strings.ContainsRune(fr.Text, 0) || !utf8.Valid(data) ||
				strings.ContainsRune(fr.Text, utf8.RuneError) && !bytes.ContainsRune(data, utf8.RuneError) && !bytes.Contains(bytes.ToLower(data), []byte(`\ufffd`))):
				t.Fatalf("frame %q (binary %v) was published as %q", data, binary, fr.Text)
			case fr.Type == "pong" && fr.Ref == "fuzz-end":
				if binary {
					t.Fatalf("binary frame %q did not close the socket", data)
				}
				return
			}
		}
	})
}
