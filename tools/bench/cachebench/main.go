// Command cachebench measures GET /users/{id} cache-hit throughput and
// latency of Redlane against two baselines built for the purpose, in one
// run on one machine:
//
//   - ceiling: a minimal net/http handler returning the same bytes from memory;
//   - one-get: a minimal net/http handler doing one go-redis GET per request;
//   - redlane with the near cache on, and with it off (every hit is one Redis GET);
//   - with -tracing, instead: redlane near cache on with tracing on at 10%
//     sampling (parentbased_traceidratio), exporting over OTLP/HTTP to a sink
//     in this process that accepts and drops the spans (the collector's cost
//     is not Redlane's), against the same server with tracing off, the two
//     alone in each round so a busy machine allows more rounds.
//
// Each server is its own process; wrk (64 connections) cycles through all
// ids so every request is a hit. Rounds are interleaved and repeated, and
// medians are reported with the ratios the caching issue sets targets for.
//
//	go run ./tools/bench/cachebench [-duration 10s] [-rounds 3] [-conns 64] [-tracing]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		if err := serveBaseline(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	if err := bench(); err != nil {
		fmt.Fprintln(os.Stderr, "cachebench:", err)
		os.Exit(1)
	}
}

type result struct {
	rps       float64
	p50, p99  time.Duration
	cpuPerReq time.Duration // server CPU (user+system) per request
}

func bench() error {
	duration := flag.Duration("duration", 10*time.Second, "length of one wrk run")
	rounds := flag.Int("rounds", 3, "interleaved rounds; medians are reported")
	conns := flag.Int("conns", 64, "wrk connections")
	threads := flag.Int("threads", 2, "wrk threads")
	users := flag.Int("users", 300, "ids cycled (all cached)")
	keep := flag.Bool("keep", false, "keep the work directory")
	tracing := flag.Bool("tracing", false, "also measure redlane near on with tracing at 10% sampling")
	flag.Parse()
	for _, bin := range []string{"wrk", "redis-server"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is needed (Debian: apt-get install -y wrk redis-server)", bin)
		}
	}
	dir, err := os.MkdirTemp("", "cachebench-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	redlane := filepath.Join(dir, "redlane")
	fmt.Println("building redlane ...")
	if out, err := exec.Command("go", "build", "-o", redlane, "./cmd/redlane").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/redlane (run from the repository root): %v\n%s", err, out)
	}

	redisPort := freePort()
	rs := exec.Command("redis-server", "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	rs.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := rs.Start(); err != nil {
		return err
	}
	defer func() { _ = rs.Process.Kill(); _ = rs.Wait() }()
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0", redisPort)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort)})
	defer rdb.Close()
	if err := waitFor(func() error { return rdb.Ping(context.Background()).Err() }); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}

	script := filepath.Join(dir, "ids.lua")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`local i = 0
request = function()
  i = i %% %d + 1
  return wrk.format("GET", "/users/" .. i)
end
`, *users)), 0o644); err != nil {
		return err
	}

	// Redlane, near on and off: one process each, same Redis (separate key prefixes).
	type target struct {
		name string
		url  string
		pid  int
	}
	var targets []target
	pids := map[string]int{}
	startRedlane := func(name string, near bool, prefix string, env ...string) (string, func(), error) {
		port := freePort()
		cfg := filepath.Join(dir, name+".yaml")
		doc := fmt.Sprintf("apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  log: {level: warn}\n  redis: {keyPrefix: %q}\n  database: {seedUsers: %d}\n  cache:\n    defaultTTL: 1h\n    near: {enabled: %v, ttl: 2s}\n", prefix, *users, near)
		if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
			return "", nil, err
		}
		cmd := exec.Command(redlane, "serve", "--config", cfg, "--address", fmt.Sprintf("127.0.0.1:%d", port), "--env-file", filepath.Join(dir, "none.env"))
		cmd.Env = append(append(os.Environ(), "REDIS_URL="+redisURL, "GOMAXPROCS=2"), env...)
		logf, _ := os.Create(filepath.Join(dir, name+".log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait(); logf.Close() }
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		pids[url] = cmd.Process.Pid
		if err := waitFor(func() error { return get(url + "/readyz") }); err != nil {
			stop()
			return "", nil, fmt.Errorf("%s did not become ready: %w", name, err)
		}
		return url, stop, nil
	}
	nearURL, stopNear, err := startRedlane("redlane-near", true, "bn:")
	if err != nil {
		return err
	}
	defer stopNear()
	plainURL, stopPlain, err := startRedlane("redlane", false, "bp:")
	if err != nil {
		return err
	}
	defer stopPlain()

	var tracedURL string
	if *tracing {
		sink, spans := otlpSink()
		defer sink.Close()
		defer func() { fmt.Printf("OTLP sink: %d export requests received\n", spans.Load()) }()
		u, stop, err := startRedlane("redlane-traced", true, "bt:",
			"OTEL_EXPORTER_OTLP_ENDPOINT="+sink.URL, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1")
		if err != nil {
			return err
		}
		defer stop()
		tracedURL = u
	}

	// Warm both (every id a hit) and copy the exact bytes for the baselines.
	bodies := filepath.Join(dir, "bodies")
	if err := os.Mkdir(bodies, 0o755); err != nil {
		return err
	}
	ctx := context.Background()
	for id := 1; id <= *users; id++ {
		for _, u := range []string{nearURL, plainURL, tracedURL} {
			if u == "" {
				continue
			}
			if err := get(fmt.Sprintf("%s/users/%d", u, id)); err != nil {
				return err
			}
		}
		b, err := fetch(fmt.Sprintf("%s/users/%d", plainURL, id))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(bodies, strconv.Itoa(id)), b, 0o644); err != nil {
			return err
		}
		if err := rdb.Set(ctx, "bench:user:"+strconv.Itoa(id), b, 0).Err(); err != nil {
			return err
		}
	}
	startBaseline := func(mode string) (string, func(), error) {
		port := freePort()
		cmd := exec.Command(self, "baseline", mode, strconv.Itoa(port), bodies, redisURL)
		cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		pids[url] = cmd.Process.Pid
		stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		if err := waitFor(func() error { return get(url + "/users/1") }); err != nil {
			stop()
			return "", nil, err
		}
		return url, stop, nil
	}
	ceilURL, stopCeil, err := startBaseline("ceiling")
	if err != nil {
		return err
	}
	defer stopCeil()
	oneURL, stopOne, err := startBaseline("one-get")
	if err != nil {
		return err
	}
	defer stopOne()
	targets = []target{{"ceiling (net/http, bytes in memory)", ceilURL, pids[ceilURL]}, {"one-get (net/http + one go-redis GET)", oneURL, pids[oneURL]},
		{"redlane, near cache on", nearURL, pids[nearURL]}, {"redlane, near cache off", plainURL, pids[plainURL]}}
	if *tracing {
		targets = []target{targets[2], {"redlane, near on, tracing 10%", tracedURL, pids[tracedURL]}}
	}

	// Sanity: the baselines answer redlane's bytes (the near-cache instance
	// seeded its own users, so only its timestamps differ).
	want, _ := fetch(plainURL + "/users/7")
	for _, t := range targets {
		b, err := fetch(t.url + "/users/7")
		if (t.url == nearURL || t.url == tracedURL) && err == nil && strings.HasPrefix(string(b), `{"id":7,`) {
			continue
		}
		if err != nil || string(b) != string(want) {
			return fmt.Errorf("%s answers different bytes for /users/7: %v\n%s\n%s", t.name, err, b, want)
		}
	}

	res := map[string][]result{}
	for r := 1; r <= *rounds; r++ {
		for _, t := range targets {
			fmt.Printf("round %d/%d: %-40s ", r, *rounds, t.name)
			before := cpuTime(pids[t.url])
			x, err := runWrk(t.url, script, *threads, *conns, *duration)
			if err != nil {
				return err
			}
			if n := x.rps * duration.Seconds(); n > 0 {
				x.cpuPerReq = time.Duration(float64(cpuTime(pids[t.url])-before) / n)
			}
			fmt.Printf("%8.0f req/s  %s CPU/request\n", x.rps, x.cpuPerReq.Round(100*time.Nanosecond))
			res[t.name] = append(res[t.name], x)
		}
	}
	med := map[string]result{}
	fmt.Printf("\nGET /users/{id}, %d ids all cached, wrk -t%d -c%d -d%s, %d rounds, medians (GOMAXPROCS=2 per server, wrk on the same 2 cores):\n\n",
		*users, *threads, *conns, *duration, *rounds)
	fmt.Printf("| %-40s | %10s | %9s | %9s | %12s |\n", "server", "req/s", "p50", "p99", "CPU/request")
	fmt.Printf("|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 42), strings.Repeat("-", 12), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 14))
	for _, t := range targets {
		m := median(res[t.name])
		med[t.name] = m
		fmt.Printf("| %-40s | %10.0f | %9s | %9s | %12s |\n", t.name, m.rps, m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond), m.cpuPerReq.Round(100*time.Nanosecond))
	}
	paired := func(num, den string) float64 {
		v := make([]float64, 0, *rounds)
		for i := range res[num] {
			v = append(v, res[num][i].rps/res[den][i].rps)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	if *tracing {
		traced := med[targets[1].name].rps / med[targets[0].name].rps
		fmt.Printf("\nredlane tracing 10%% / tracing off (near on): %.2f by medians, %.2f median of per-round ratios (goal >= 0.9) %s\n",
			traced, paired(targets[1].name, targets[0].name), verdict(traced, 0.9))
		fmt.Printf("CPU per request, tracing off / tracing 10%%: %.2f\n", float64(med[targets[0].name].cpuPerReq)/float64(med[targets[1].name].cpuPerReq))
		return nil
	}
	nearRatio := med[targets[2].name].rps / med[targets[0].name].rps
	plainRatio := med[targets[3].name].rps / med[targets[1].name].rps
	fmt.Printf("\nredlane near on  / ceiling: %.2f (target >= 0.85) %s\n", nearRatio, verdict(nearRatio, 0.85))
	fmt.Printf("redlane near off / one-get: %.2f (target >= 0.85) %s\n", plainRatio, verdict(plainRatio, 0.85))
	// Each round measures the four servers back to back, so the ratio within
	// a round is less exposed to a shared machine's drift than the ratio
	// of medians; both are printed, the verdicts stay with the latter.
	fmt.Printf("median of per-round ratios: near on / ceiling %.2f, near off / one-get %.2f\n",
		paired(targets[2].name, targets[0].name), paired(targets[3].name, targets[1].name))
	fmt.Printf("CPU per request, ceiling / redlane near on: %.2f; one-get / redlane near off: %.2f\n",
		float64(med[targets[0].name].cpuPerReq)/float64(med[targets[2].name].cpuPerReq),
		float64(med[targets[1].name].cpuPerReq)/float64(med[targets[3].name].cpuPerReq))
	return nil
}

func verdict(v, target float64) string {
	if v >= target {
		return "met"
	}
	return "NOT met"
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return result{
		rps:       pick(func(r result) float64 { return r.rps }),
		p50:       time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99:       time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
		cpuPerReq: time.Duration(pick(func(r result) float64 { return float64(r.cpuPerReq) })),
	}
}

var (
	rpsRE = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	latRE = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func runWrk(url, script string, threads, conns int, d time.Duration) (result, error) {
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		return result{}, fmt.Errorf("wrk saw errors:\n%s", out)
	}
	var r result
	m := rpsRE.FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, l := range latRE.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(l[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(l[3])]
		d := time.Duration(v * float64(unit))
		if string(l[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	return r, nil
}

// serveBaseline runs one baseline server: mode port bodiesDir redisURL.
func serveBaseline(args []string) error {
	if len(args) != 4 {
		return errors.New("usage: baseline ceiling|one-get PORT BODIES_DIR REDIS_URL")
	}
	mode, port, dir, redisURL := args[0], args[1], args[2], args[3]
	bodies := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		bodies[e.Name()] = b
	}
	mux := http.NewServeMux()
	switch mode {
	case "ceiling":
		mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
			b, ok := bodies[r.PathValue("id")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
	case "one-get":
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			return err
		}
		rdb := redis.NewClient(opts)
		mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
			b, err := rdb.Get(r.Context(), "bench:user:"+r.PathValue("id")).Bytes()
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	return http.ListenAndServe("127.0.0.1:"+port, mux)
}

// cpuTime is the user+system CPU a process has used (/proc/PID/stat).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitFor(fn func() error) error {
	var err error
	for i := 0; i < 300; i++ {
		if err = fn(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

func get(url string) error {
	_, err := fetch(url)
	return err
}

func fetch(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b, err
}

// otlpSink is an OTLP/HTTP trace endpoint that reads and drops every export
// (an empty ExportTraceServiceResponse is an empty protobuf message), and
// counts the requests.
func otlpSink() (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	return srv, &n
}
