package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// httpRecord is one request of the HTTP load.
type httpRecord struct {
	Kind   string `json:"k"`
	At     int64  `json:"t"` // unix ms at send
	Us     int64  `json:"d"` // latency, µs
	Status int    `json:"s"` // 0: no answer (timeout, refused); -1: not sent, too many in flight
	Retry  bool   `json:"ra,omitempty"`
	ID     string `json:"id,omitempty"` // enqueue: the task id
	Err    string `json:"e,omitempty"`
}

// The request kinds of the HTTP load.
const (
	kindUser     = "user"     // GET /users/{id}: cache-aside read
	kindSession  = "session"  // GET /auth/session with a Bearer token: needs Redis
	kindRLOpen   = "rlopen"   // GET /api/limited-endpoint: policy "open", failOpen true
	kindRLClosed = "rlclosed" // HEAD /api/limited-endpoint: policy "closed", failOpen false
	kindEnqueue  = "enqueue"  // POST /queues/{q}/tasks
)

// loadQueue is the default queue of enqueue requests.
const loadQueue = "chaos"

// maxInFlight bounds each kind's open requests, so a stalled server cannot
// make the load tool pile up without end.
const maxInFlight = 200

// runHTTPLoad sends each kind at its rate (-rates user=40,session=20,...),
// open loop, round robin over targets, until SIGINT.
func runHTTPLoad(ctx context.Context, args []string, stdout io.Writer) error {
	fs, targetsFlag, out := clientFlags("http")
	rates := fs.String("rates", "user=20", "kind=requests per second, comma-separated")
	users := fs.Int("users", 100, "user ids 1..N exist")
	tokensFile := fs.String("tokens", "", "file of session tokens, one per line")
	queue := fs.String("queue", loadQueue, "queue of enqueue requests")
	timeout := fs.Duration("timeout", 30*time.Second, "request timeout: longer counts as a hang")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets := splitList(*targetsFlag)
	if len(targets) == 0 {
		return errors.New("need -targets")
	}
	var tokens []string
	if *tokensFile != "" {
		b, err := os.ReadFile(*tokensFile)
		if err != nil {
			return err
		}
		tokens = splitList(strings.ReplaceAll(string(b), "\n", ","))
	}
	l := &httpLoad{
		hc:      &http.Client{Timeout: *timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		targets: targets, users: *users, tokens: tokens, queue: *queue,
		w: newLineWriter(*out),
	}
	var wg sync.WaitGroup
	for _, kv := range splitList(*rates) {
		kind, r, _ := strings.Cut(kv, "=")
		rate, err := strconv.Atoi(r)
		if err != nil || rate < 1 {
			return fmt.Errorf("bad rate %q", kv)
		}
		if kind == kindSession && len(tokens) == 0 {
			return errors.New("session load needs -tokens")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.drive(ctx, kind, rate)
		}()
	}
	fmt.Fprintln(stdout, "ready")
	wg.Wait()
	return l.w.close()
}

type httpLoad struct {
	hc      *http.Client
	targets []string
	users   int
	tokens  []string
	queue   string
	w       *lineWriter
}

func (l *httpLoad) drive(ctx context.Context, kind string, rate int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for k := 0; ; k++ {
		if sleep(ctx, time.Until(start.Add(time.Duration(k)*interval))) != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			l.w.write(httpRecord{Kind: kind, At: time.Now().UnixMilli(), Status: -1})
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			l.w.write(l.do(kind, k))
		}()
	}
	wg.Wait()
}

func (l *httpLoad) do(kind string, k int) httpRecord {
	target := l.targets[k%len(l.targets)]
	var req *http.Request
	switch kind {
	case kindUser:
		req, _ = http.NewRequest("GET", target+"/users/"+strconv.Itoa(1+rand.IntN(l.users)), nil)
	case kindSession:
		req, _ = http.NewRequest("GET", target+"/auth/session", nil)
		req.Header.Set("Authorization", "Bearer "+l.tokens[k%len(l.tokens)])
	case kindRLOpen:
		req, _ = http.NewRequest("GET", target+"/api/limited-endpoint", nil)
	case kindRLClosed:
		req, _ = http.NewRequest("HEAD", target+"/api/limited-endpoint", nil)
	case kindEnqueue:
		body := fmt.Sprintf(`{"payload":{"n":%d}}`, k)
		req, _ = http.NewRequest("POST", target+"/queues/"+l.queue+"/tasks", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	default:
		return httpRecord{Kind: kind, Err: "unknown kind"}
	}
	rec := httpRecord{Kind: kind, At: time.Now().UnixMilli()}
	start := time.Now()
	resp, err := l.hc.Do(req)
	if err != nil {
		rec.Us = time.Since(start).Microseconds()
		rec.Err = cut(err.Error())
		return rec
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	rec.Us = time.Since(start).Microseconds()
	rec.Status = resp.StatusCode
	rec.Retry = resp.Header.Get("Retry-After") != ""
	if resp.StatusCode >= 400 {
		rec.Err = cut(string(b))
	}
	if kind == kindEnqueue && resp.StatusCode == http.StatusCreated {
		var ans struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(b, &ans)
		rec.ID = ans.ID
	}
	return rec
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
