// Package testproc runs the server processes that test helpers start
// (promtest's Prometheus, jaegertest's Jaeger): output to a log file, killed
// with the test binary if it dies (Pdeathsig), stopped with SIGTERM and
// then SIGKILL, on loopback addresses that were free a moment before.
package testproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is one running server process.
type Proc struct {
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Start runs bin with args, its output appended to logPath.
func Start(bin string, args []string, logPath string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitReady polls ready every 50 ms until it holds, the process exits, or
// within passes; the process is stopped unless it became ready.
func (p *Proc) WaitReady(within time.Duration, ready func() bool) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("exited: %s", p.Log())
		}
		if ready() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Stop()
	return fmt.Errorf("not ready within %s: %s", within, p.Log())
}

// Stop terminates the process and waits for it to exit (SIGKILL after
// 10 s). Safe to call twice.
func (p *Proc) Stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// Log is the last 4000 bytes the process logged.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Retry calls launch until it succeeds, five times at most (a free port
// can be taken between choosing it and the server binding it), and fails
// the test with the last error.
func Retry[T any](t testing.TB, what string, launch func() (T, error)) T {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		v, err := launch()
		if err == nil {
			return v
		}
		lastErr = err
	}
	t.Fatalf("starting %s: %v", what, lastErr)
	var zero T
	return zero
}

// FreeAddrs returns n distinct loopback host:port addresses free now.
func FreeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
