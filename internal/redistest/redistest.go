// Package redistest starts real redis-server processes on free loopback ports
// for tests: standalone, with a password, with TLS, behind Sentinel, and as a
// Cluster. Servers die with the test process and are removed by t.Cleanup.
// When redis-server is missing the test is skipped, except under CI=true,
// where it fails.
package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Require fails (under CI=true) or skips the test when a binary is missing.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; CI must install it (.ci/run does)", b)
			}
			t.Skipf("%s is not installed", b)
		}
	}
}

// Server is one redis-server process.
type Server struct {
	t        testing.TB
	Port     int
	Password string
	Dir      string
	args     []string
	// sentinel, when set, makes this a Sentinel watching that master.
	sentinel *sentinelOf
	// TLS is set for TLS servers: the client config that trusts them.
	TLS    *tls.Config
	CAFile string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Option changes how a server starts.
type Option func(*Server)

// WithPassword sets requirepass (and masterauth, for replicas).
func WithPassword(p string) Option {
	return func(s *Server) { s.Password = p }
}

// WithArgs appends redis-server arguments, e.g. "--maxmemory", "10mb".
func WithArgs(args ...string) Option {
	return func(s *Server) { s.args = append(s.args, args...) }
}

// Start runs a standalone server on a free port.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	Require(t, "redis-server")
	s := &Server{t: t, Dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	s.startOnFreePort(false)
	return s
}

// Addr is 127.0.0.1:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is a redis:// URL for the server, with its password.
func (s *Server) URL() string {
	if s.Password != "" {
		return fmt.Sprintf("redis://:%s@%s/0", s.Password, s.Addr())
	}
	return fmt.Sprintf("redis://%s/0", s.Addr())
}

// Client returns a go-redis client for direct inspection in tests.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.Password})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) startOnFreePort(cluster bool) {
	s.t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.Port = freePort(s.t, cluster)
		if lastErr = s.launch(); lastErr == nil {
			s.t.Cleanup(s.Stop)
			return
		}
	}
	s.t.Fatalf("starting redis-server: %v", lastErr)
}

func (s *Server) baseArgs() []string {
	if s.sentinel != nil {
		return s.sentinelArgs()
	}
	port := []string{"--port", strconv.Itoa(s.Port)}
	if s.TLS != nil {
		port = append(tlsArgs(s.Dir), "--port", "0", "--tls-port", strconv.Itoa(s.Port))
	}
	a := append(port,
		"--bind", "127.0.0.1",
		"--dir", s.Dir, "--logfile", filepath.Join(s.Dir, "redis.log"),
		"--save", "", "--appendonly", "no", "--daemonize", "no",
	)
	if s.Password != "" {
		a = append(a, "--requirepass", s.Password, "--masterauth", s.Password)
	}
	return append(a, s.args...)
}

func (s *Server) launch() error {
	args := s.baseArgs()
	if s.sentinel != nil {
		if err := s.writeSentinelConf(); err != nil {
			return err
		}
	}
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			return fmt.Errorf("redis-server exited (%v): %s", err, lastLines(string(log), 5))
		default:
		}
		if pid, err := s.pid(); err == nil && pid == cmd.Process.Pid {
			s.mu.Lock()
			s.cmd = cmd
			s.mu.Unlock()
			go func() { <-exited }() // already waited in the goroutine above
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server on port %d did not answer PING within 1m", s.Port)
}

// pid asks the server for its process ID, so a server of another test that
// grabbed the same port is never mistaken for ours.
func (s *Server) pid() (int, error) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.Password, TLSConfig: s.TLS, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("no process_id in INFO")
}

// Stop kills the server (SIGKILL: like a crash, nothing is flushed) and
// waits until its port is closed. Safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", s.Addr(), 50*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port (after Stop).
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after a kill
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restarting redis-server on port %d: %v", s.Port, err)
}

// freePort finds a port the kernel considers free; for cluster nodes the
// bus port (port+10000) must be free too.
func freePort(t testing.TB, cluster bool) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !cluster {
			return port
		}
		if port+10000 > 65535 {
			continue
		}
		if bl, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			bl.Close()
			return port
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Pause stops the server's process (SIGSTOP): it keeps its connections
// and answers nothing, like a server that hangs. Resume continues it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		s.t.Fatalf("redis-server on port %d is not running", s.Port)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signalling redis-server on port %d: %v", s.Port, err)
	}
}
