package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redlane/redlane/internal/testproc"
)

// Redlane is one `redlane serve` process.
type Redlane struct {
	Name string
	URL  string // http://127.0.0.1:port
	proc *testproc.Proc
}

// instanceConfig is the RedlaneConfig every instance runs with: the
// defaults (so the figures are those a user gets), plus what the scenarios
// need to observe:
//   - drainDelay: after SIGTERM, /readyz is 503 this long before sockets
//     close with 1001;
//   - historySize: room history holds a whole run, so "acknowledged but not
//     in history" means lost, never trimmed;
//   - publishRate lifted: one publisher process sends for every user from
//     one address, faster than a person would;
//   - two policies on the demo route: GET fails open, HEAD fails closed, so
//     one load measures both answers when Redis cannot decide.
//
// and one Redis deadline: spec.redis.commandTimeout is set to 1s, the
// default of readTimeout and of spec.cache.redisTimeout (its own default,
// 2s, is the deadline of a command whose context has none), so every Redis
// call of a request has the same 1 s deadline. With the rate limiter's
// decisionTimeout (the profile's: 100ms, the default, in the long one)
// those are the budgets the pause and network scenarios hold requests to.
const instanceConfig = `apiVersion: redlane.dev/v1alpha1
kind: RedlaneConfig
spec:
  server:
    drainDelay: %s
    shutdownTimeout: 10s
  redis:
    commandTimeout: 1s
  rateLimiter:
    decisionTimeout: %s
  realtime:
    historySize: 1000000
    publishRate: {perConnection: {limit: 1000000, period: 1s}, perSender: {limit: 1000000, period: 1s}}
  rateLimits:
  - {name: open, match: {pathPrefix: /api/, methods: [GET]}, key: ip, limit: 1000000, period: 1m, failOpen: true}
  - {name: closed, match: {pathPrefix: /api/, methods: [HEAD]}, key: ip, limit: 1000000, period: 1m, failOpen: false}
`

// The budgets requests are held to (the defaults of the config above).
const (
	redisDeadline    = time.Second            // spec.redis.commandTimeout and readTimeout, spec.cache.redisTimeout
	decisionDeadline = 100 * time.Millisecond // spec.rateLimiter.decisionTimeout (default), the long profile's
	drainDelay       = time.Second
)

// StartRedlane runs an instance against the Redis given by redisEnv
// (REDIS_URL=... or REDIS_ADDRS=...) and the run's PostgreSQL, and waits
// until /readyz answers 200.
func (e *Env) StartRedlane(ctx context.Context, name string, redisEnv ...string) (*Redlane, error) {
	cfg := e.path(name + ".yaml")
	decision := decisionDeadline
	if e.run != nil {
		decision = e.run.profile.decision
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(instanceConfig, drainDelay, decision)), 0o644); err != nil {
		return nil, err
	}
	dbURL, err := e.run.database(ctx)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort(false)
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(e.run.redlaneBin, "serve", "--config", cfg, "--address", addr, "--env-file", os.DevNull)
		cmd.Dir = e.Dir
		cmd.Env = append([]string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + e.Dir,
			"DATABASE_URL=" + dbURL, "ADMIN_TOKEN=" + adminToken, "SECRET_KEY=" + adminToken + "-secret",
			"LOG_FORMAT=json", "LOG_LEVEL=warn",
		}, redisEnv...)
		p, err := e.start(name, cmd)
		if err != nil {
			return nil, err
		}
		r := &Redlane{Name: name, URL: "http://" + addr, proc: p}
		if lastErr = r.waitReady(ctx, 30*time.Second); lastErr == nil {
			return r, nil
		}
		p.Kill()
	}
	return nil, lastErr
}

// adminToken is the instances' ADMIN_TOKEN (dead letters are admin-only).
const adminToken = "chaos-admin-token-0123456789abcdef0123"

func (r *Redlane) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if r.proc.Exited() {
			return fmt.Errorf("%s exited: %s", r.Name, r.proc.Tail(600))
		}
		if r.Ready(ctx) == http.StatusOK {
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s was not ready within %s: %s", r.Name, within, r.proc.Tail(600))
}

// probeClient answers fast or not at all: a probe that hangs is a 0.
var probeClient = &http.Client{Timeout: 3 * time.Second}

// Ready is the status of GET /readyz (0 without an answer).
func (r *Redlane) Ready(ctx context.Context) int {
	req, _ := http.NewRequestWithContext(ctx, "GET", r.URL+"/readyz", nil)
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Terminate sends SIGTERM (a rolling update's first step).
func (r *Redlane) Terminate() error { return r.proc.Signal(syscall.SIGTERM) }

// Metrics scrapes /metrics into sample name (with labels) -> value.
func (r *Redlane) Metrics(ctx context.Context) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", r.URL+"/metrics", nil)
	resp, err := probeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// LogCount counts the occurrences of s in the instance's log.
func (r *Redlane) LogCount(s string) int {
	b, _ := os.ReadFile(r.proc.LogPath)
	return strings.Count(string(b), s)
}

// path is a file in the scenario's directory.
func (e *Env) path(name string) string { return filepath.Join(e.Dir, name) }

// standalone starts Redis (AOF) and two instances on it.
func (e *Env) standalone(ctx context.Context) (*Redis, []*Redlane, error) {
	rd, err := e.StartRedis(ctx, "redis")
	if err != nil {
		return nil, nil, err
	}
	insts, err := e.startInstances(ctx, 2, "REDIS_URL=redis://"+rd.Addr()+"/0")
	return rd, insts, err
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
