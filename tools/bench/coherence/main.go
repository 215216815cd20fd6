// Command coherence measures how long a change made through one Redlane
// instance takes to be served by another, with client-side caching on:
// two redlane processes (A and B) on one redis-server and one users
// database (a shared SQLite file), the near cache on in both.
//
//   - users: PATCH /users/{id} on A, then B (holding the record in its near
//     cache) is polled until it serves the new display name;
//   - sessions: a session in use on B (answered from B's local copy) is
//     logged out on A, then B is polled until it answers 401.
//
// Each is run twice: undisturbed, and while every tracking (invalidation)
// connection is killed with CLIENT KILL every -kill-every. The time is from
// A's answer to the first answer of B that shows the change; B is also
// asked once more after it, and any answer that goes back to the old state
// is counted as a regression (there must be none).
//
//	go run ./tools/bench/coherence [-writes 300] [-logouts 100] [-kill-every 250ms]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const adminToken = "coherence-bench-admin-token-0123456789"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "coherence:", err)
		os.Exit(1)
	}
}

func run() error {
	writes := flag.Int("writes", 300, "user updates per scenario")
	logouts := flag.Int("logouts", 100, "logouts per scenario")
	killEvery := flag.Duration("kill-every", 250*time.Millisecond, "CLIENT KILL of the tracking connections, in the killing scenarios")
	flag.Parse()
	dir, err := os.MkdirTemp("", "coherence-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "redlane")
	fmt.Println("building redlane ...")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/redlane").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/redlane (run from the repository root): %v\n%s", err, out)
	}
	rport := freePort()
	rs := exec.Command("redis-server", "--port", strconv.Itoa(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	rs.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := rs.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	defer func() { _ = rs.Process.Kill(); _ = rs.Wait() }()
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rport)})
	defer rdb.Close()
	if err := poll(func() error { return rdb.Ping(context.Background()).Err() }); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "redlane.yaml")
	doc := fmt.Sprintf("apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  log: {level: warn}\n"+
		"  database: {sqlitePath: %q, seedUsers: 50}\n  cache: {defaultTTL: 1h, near: {enabled: true}}\n"+
		"  security: {adminToken: %q}\n", filepath.Join(dir, "users.db"), adminToken)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		return err
	}
	var urls []string
	for _, name := range []string{"a", "b"} { // A first: it seeds the shared database
		url, stop, err := serve(bin, cfg, dir, name, fmt.Sprintf("redis://127.0.0.1:%d/0", rport))
		if err != nil {
			return err
		}
		defer stop()
		urls = append(urls, url)
	}
	a, b := urls[0], urls[1]
	fmt.Printf("two redlane processes on one redis-server %d; %d writes and %d logouts per scenario\n\n", rport, *writes, *logouts)
	fmt.Printf("time from A's answer to B's first answer showing the change; stale: B's answers after A's that did not show it yet\n\n")
	fmt.Printf("| %-62s | %5s | %8s | %8s | %8s | %5s | %11s |\n", "scenario", "n", "p50", "p99", "max", "stale", "regressions")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 64), strings.Repeat("-", 7), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 7), strings.Repeat("-", 13))
	for _, kill := range []bool{false, true} {
		suffix := ""
		var stopKill func() int
		if kill {
			suffix = fmt.Sprintf(", CLIENT KILL every %s", *killEvery)
			stopKill = killer(rdb, *killEvery)
		}
		lat, reg, err := users(a, b, *writes)
		if err != nil {
			return err
		}
		report("PATCH /users/{id} on A -> GET on B"+suffix, lat, reg)
		lat, reg, err = sessions(a, b, *logouts)
		if err != nil {
			return err
		}
		report("logout on A -> 401 on B"+suffix, lat, reg)
		if stopKill != nil {
			fmt.Printf("  (%d tracking connections killed during the two runs above)\n", stopKill())
		}
	}
	m, _ := fetch("GET", b+"/metrics", "", nil)
	fmt.Println("\nB's tracking metrics at the end:")
	for _, l := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(l, "redlane_tracking_") {
			fmt.Println("  " + l)
		}
	}
	return nil
}

// users updates a record on A and times until B serves the update.
func users(a, b string, n int) ([]time.Duration, int, error) {
	var lat []time.Duration
	regressions := 0
	for i := range n {
		id := strconv.Itoa(1 + i%50)
		for range 3 { // B holds the record (in its near cache when tracking is live)
			if _, err := fetch("GET", b+"/users/"+id, "", nil); err != nil {
				return nil, 0, err
			}
		}
		v := fmt.Sprintf("v%d-%d", time.Now().UnixNano(), i)
		body, _ := json.Marshal(map[string]string{"display_name": v})
		if _, err := fetch("PATCH", a+"/users/"+id, adminToken, body); err != nil {
			return nil, 0, err
		}
		d, err := until(func() (bool, error) {
			got, err := fetch("GET", b+"/users/"+id, "", nil)
			return bytes.Contains(got, []byte(v)), err
		})
		if err != nil {
			return nil, 0, err
		}
		lat = append(lat, d) // from A's answer
		if got, err := fetch("GET", b+"/users/"+id, "", nil); err != nil || !bytes.Contains(got, []byte(v)) {
			regressions++
		}
	}
	return lat, regressions, nil
}

// sessions logs in (on A), uses the session on B, logs out on A and
// times until B refuses it.
func sessions(a, b string, n int) ([]time.Duration, int, error) {
	var lat []time.Duration
	regressions := 0
	for i := range n {
		body, _ := json.Marshal(map[string]string{"username": "user" + strconv.Itoa(1+i%50), "password": "password123"})
		out, err := fetch("POST", a+"/auth/login", "", body)
		if err != nil {
			return nil, 0, err
		}
		var login struct {
			Token string `json:"session_token"`
		}
		if err := json.Unmarshal(out, &login); err != nil || login.Token == "" {
			return nil, 0, fmt.Errorf("login: %v %s", err, out)
		}
		for range 3 {
			if _, err := fetch("GET", b+"/auth/session", login.Token, nil); err != nil {
				return nil, 0, err
			}
		}
		if _, err := fetch("POST", a+"/auth/logout", login.Token, nil); err != nil {
			return nil, 0, err
		}
		d, err := until(func() (bool, error) {
			_, err := fetch("GET", b+"/auth/session", login.Token, nil)
			var se statusError
			if errors.As(err, &se) && se == http.StatusUnauthorized {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return nil, 0, err
		}
		lat = append(lat, d)
		if _, err := fetch("GET", b+"/auth/session", login.Token, nil); err == nil {
			regressions++
		}
	}
	return lat, regressions, nil
}

// staleAnswers counts answers of B, after A answered, that did not show
// the change yet.
var staleAnswers atomic.Int64

// until polls cond back to back and returns how long it took to hold.
func until(cond func() (bool, error)) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		ok, err := cond()
		if err != nil {
			return 0, err
		}
		if ok {
			return time.Since(start), nil
		}
		staleAnswers.Add(1)
	}
	return 0, fmt.Errorf("the change was not served within 10s")
}

// killer kills every tracking connection every period until the func it
// returns is called, which reports how many it killed.
func killer(rdb *redis.Client, every time.Duration) func() int {
	var killed atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			list, _ := rdb.ClientList(ctx).Result()
			for _, l := range strings.Split(list, "\n") {
				if f := strings.Fields(l); len(f) > 0 && strings.Contains(l, "name=redlane-tracking") {
					if rdb.Do(ctx, "CLIENT", "KILL", "ID", strings.TrimPrefix(f[0], "id=")).Err() == nil {
						killed.Add(1)
					}
				}
			}
			cancel()
		}
	}()
	return func() int { close(done); wg.Wait(); return int(killed.Load()) }
}

func report(name string, lat []time.Duration, regressions int) {
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	r := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	fmt.Printf("| %-62s | %5d | %8s | %8s | %8s | %5d | %11d |\n", name, len(lat), r(q(0.5)), r(q(0.99)), r(lat[len(lat)-1]), staleAnswers.Swap(0), regressions)
}

// serve starts one redlane process and waits until it is ready.
func serve(bin, cfg, dir, name, redisURL string) (string, func(), error) {
	port := freePort()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--address", fmt.Sprintf("127.0.0.1:%d", port), "--env-file", filepath.Join(dir, "none.env"))
	cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL)
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait(); logf.Close() }
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := poll(func() error { _, err := fetch("GET", url+"/readyz", "", nil); return err }); err != nil {
		stop()
		log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
		return "", nil, fmt.Errorf("redlane %s not ready: %w\n%s", name, err, log)
	}
	return url, stop, nil
}

type statusError int

func (s statusError) Error() string { return "HTTP " + strconv.Itoa(int(s)) }

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

// fetch sends one request (with a bearer token and a JSON body when set)
// and returns the body of a 2xx answer, or a statusError.
func fetch(method, url, token string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return b, statusError(resp.StatusCode)
	}
	return b, err
}

func poll(fn func() error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
