package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// steps runs each step in order and stops at the first error, so a
// scenario's timeline reads as a list.
func steps(fns ...func() error) error {
	for _, fn := range fns {
		if err := fn(); err != nil {
			return err
		}
	}
	return nil
}

// wait is a step that sleeps d.
func wait(ctx context.Context, d time.Duration) func() error {
	return func() error { return sleep(ctx, d) }
}

// mark is a step that notes the time in t.
func mark(t *time.Time) func() error {
	return func() error { *t = time.Now(); return nil }
}

// do is a step that cannot fail.
func do(fn func()) func() error {
	return func() error { fn(); return nil }
}

// standalone starts Redis (AOF) and two instances on it.
func (e *Env) standalone(ctx context.Context) (*Redis, []*Redlane, error) {
	rd, err := e.StartRedis(ctx, "redis")
	if err != nil {
		return nil, nil, err
	}
	insts, err := e.startInstances(ctx, 2, "REDIS_URL=redis://"+rd.Addr()+"/0")
	return rd, insts, err
}

// standaloneLoad is the HTTP load of the standalone scenarios: cache reads,
// authenticated requests, and the demo route under both failOpen settings.
const standaloneLoad = "user=40,session=20,rlopen=20,rlclosed=20"

// httpLoadProc is a running HTTP load process.
type httpLoadProc struct{ *clientProc }

// stop ends the load and returns what it recorded.
func (l httpLoadProc) stop() ([]httpRecord, error) {
	if err := l.finish(30 * time.Second); err != nil {
		return nil, err
	}
	return readLines[httpRecord](l.Out)
}

// startHTTPLoad signs in 20 users and starts an HTTP load process over
// insts at rates (see runHTTPLoad), with extra flags.
func (e *Env) startHTTPLoad(ctx context.Context, name string, insts []*Redlane, rates string, extra ...string) (httpLoadProc, error) {
	tokens, err := e.login(ctx, insts[0], 20)
	if err != nil {
		return httpLoadProc{}, err
	}
	args := append([]string{"-targets", urls(insts), "-rates", rates, "-users", fmt.Sprint(seededUsers), "-tokens", tokens}, extra...)
	load, err := e.startClient(name, "http", args...)
	if err != nil {
		return httpLoadProc{}, err
	}
	_, err = load.waitReady(ctx, 10*time.Second)
	return httpLoadProc{load}, err
}

// startInstances runs n Redlane instances (redlane-a, redlane-b, ...) on
// the Redis that redisEnv names.
func (e *Env) startInstances(ctx context.Context, n int, redisEnv ...string) ([]*Redlane, error) {
	var out []*Redlane
	for i := 0; i < n; i++ {
		r, err := e.StartRedlane(ctx, "redlane-"+string(rune('a'+i)), redisEnv...)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func urls(insts []*Redlane) string {
	var s []string
	for _, in := range insts {
		s = append(s, in.URL)
	}
	return strings.Join(s, ",")
}

// api is the runner's own HTTP client, for setup and reading results.
var api = &http.Client{Timeout: 10 * time.Second}

// login signs in users user1..userN on in and writes their tokens to a
// file for the HTTP load (-tokens).
func (e *Env) login(ctx context.Context, in *Redlane, n int) (string, error) {
	var tokens []string
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf(`{"username":"user%d","password":"password123"}`, i)
		var ans struct {
			Token string `json:"session_token"`
		}
		status, err := call(ctx, "POST", in.URL+"/auth/login", body, &ans)
		if err != nil || status != http.StatusOK || ans.Token == "" {
			return "", fmt.Errorf("login user%d: status %d: %v", i, status, err)
		}
		tokens = append(tokens, ans.Token)
	}
	path := e.path("tokens")
	return path, os.WriteFile(path, []byte(strings.Join(tokens, "\n")), 0o600)
}

// call sends a request with an optional JSON body and decodes a 2xx answer
// into v; it returns the status.
func call(ctx context.Context, method, u, body string, v any) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := api.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 == 2 && v != nil {
		return resp.StatusCode, json.Unmarshal(b, v)
	}
	return resp.StatusCode, nil
}

// history reads every message id of room through GET /chat/history,
// oldest first, from the first instance that answers.
func history(ctx context.Context, insts []*Redlane, room string) ([]string, error) {
	var lastErr error
	for _, in := range insts {
		ids, err := historyFrom(ctx, in, room)
		if err == nil {
			return ids, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func historyFrom(ctx context.Context, in *Redlane, room string) ([]string, error) {
	var ids []string
	before := ""
	for {
		u := in.URL + "/chat/history?limit=200&room=" + url.QueryEscape(room)
		if before != "" {
			u += "&before=" + url.QueryEscape(before)
		}
		var page struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
			NextBefore string `json:"nextBefore"`
		}
		status, err := call(ctx, "GET", u, "", &page)
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("history of %s from %s: status %d: %v", room, in.Name, status, err)
		}
		chunk := make([]string, len(page.Messages))
		for i, m := range page.Messages {
			chunk[i] = m.ID
		}
		ids = append(chunk, ids...)
		if page.NextBefore == "" {
			return ids, nil
		}
		before = page.NextBefore
	}
}

// truth reads history for every room the publisher used and pairs it with
// what the publisher was told. When no instance serves a room's history
// and direct is set, direct reads it (t.direct lists those rooms).
func truth(ctx context.Context, insts []*Redlane, pubs []publishRecord, rooms []string, direct func(context.Context, string) ([]string, error)) (chatTruth, error) {
	t := chatTruth{acked: map[string][]string{}, history: map[string][]string{}}
	for _, p := range pubs {
		if p.ID != "" {
			t.acked[p.Room] = append(t.acked[p.Room], p.ID)
		}
	}
	for _, room := range rooms {
		ids, err := history(ctx, insts, room)
		if err != nil && direct != nil {
			t.direct = append(t.direct, room)
			ids, err = direct(ctx, room)
		}
		if err != nil {
			return t, err
		}
		t.history[room] = ids
	}
	return t, nil
}

// readChat reads the records of chat client processes.
func readChat(cs ...*clientProc) ([]chatRecord, error) {
	var all []chatRecord
	for _, c := range cs {
		var recs []chatRecord
		if err := readRecord(c.Out, &recs); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		all = append(all, recs...)
	}
	return all, nil
}

// finishAll ends clients (SIGINT) and returns the first error.
func finishAll(cs ...*clientProc) error {
	var first error
	for _, c := range cs {
		if err := c.finish(30 * time.Second); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// kindStats summarizes one kind of HTTP request sent in [from, to).
type kindStats struct {
	n, ok, s5xx, s500, noAnswer, noRetry int
	status                               map[int]int
	lat                                  durations
}

func statsOf(recs []httpRecord, kind string, from, to time.Time) kindStats {
	k := kindStats{status: map[int]int{}}
	for _, r := range recs {
		if r.Kind != kind || r.At < from.UnixMilli() || r.At >= to.UnixMilli() || r.Status < 0 {
			continue
		}
		k.n++
		k.status[r.Status]++
		k.lat = append(k.lat, time.Duration(r.Us)*time.Microsecond)
		switch {
		case r.Status/100 == 2:
			k.ok++
		case r.Status == 0:
			k.noAnswer++
		case r.Status >= 500:
			k.s5xx++
			if r.Status == 500 {
				k.s500++
			}
			if !r.Retry {
				k.noRetry++
			}
		}
	}
	return k
}

// statuses formats a status histogram: "200×40 503×12".
func statuses(m map[int]int) string {
	keys := slices.Sorted(maps.Keys(m))
	var parts []string
	for _, k := range keys {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "none"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, m[k]))
	}
	if len(parts) == 0 {
		return "none sent"
	}
	return strings.Join(parts, " ")
}

// clusterErrorWords are Redis Cluster redirections and errors that must
// never reach a client: Redlane has to follow or hide them.
var clusterErrorWords = []string{"CROSSSLOT", "MOVED", "ASK ", "CLUSTERDOWN", "TRYAGAIN"}

// clusterLeaks counts texts that show a Cluster error.
func clusterLeaks(texts []string) int {
	n := 0
	for _, t := range texts {
		for _, w := range clusterErrorWords {
			if strings.Contains(t, w) {
				n++
				break
			}
		}
	}
	return n
}

// probePublish publishes to room through in until it has succeeded for
// steady without a failure, or budget runs out; it returns when writes
// first succeeded for good (zero when they never did).
func probePublish(ctx context.Context, in *Redlane, room string, steady, budget time.Duration) time.Time {
	deadline := time.Now().Add(budget)
	var since time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		status, err := call(pctx, "POST", in.URL+"/chat/message", fmt.Sprintf(`{"room":%q,"message":"probe"}`, room), nil)
		cancel()
		switch {
		case err == nil && status == http.StatusOK:
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) >= steady {
				return since
			}
		default:
			since = time.Time{}
		}
		_ = sleep(ctx, 200*time.Millisecond)
	}
	return time.Time{}
}
