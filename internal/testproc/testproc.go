// Package testproc runs the child processes that tests and the chaos suite
// start (promtest's Prometheus, jaegertest's Jaeger, chaos's Redis and
// Redlane instances and clients): output to a log file, killed
// with the runner if it dies (Pdeathsig), stopped with SIGTERM and then
// SIGKILL, on loopback addresses that were free a moment before.
package testproc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is one running child process.
type Proc struct {
	// Name labels the process in errors; LogPath is the file its output
	// goes to.
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, once done is closed
	once sync.Once
}

// Start runs bin with args, its output written to logPath (emptied first).
func Start(bin string, args []string, logPath string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	logf.Close()
	return StartCmd(filepath.Base(bin), exec.Command(bin, args...), logPath)
}

// StartCmd starts cmd as a child named name. Its stdout and stderr, where
// not already set, are appended to logPath, so that a restarted server
// keeps one log.
func StartCmd(name string, cmd *exec.Cmd, logPath string) (*Proc, error) {
	if cmd.Stdout == nil || cmd.Stderr == nil {
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer logf.Close() // the child has its own descriptor
		if cmd.Stdout == nil {
			cmd.Stdout = logf
		}
		if cmd.Stderr == nil {
			cmd.Stderr = logf
		}
	}
	// Pdeathsig: a runner that dies takes its children with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr is the process's exit status (nil for 0); call after Done.
func (p *Proc) ExitErr() error { return p.err }

// Signal sends sig to the process (and nothing else: never a group).
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return errors.New(p.Name + " has exited")
	}
	return syscall.Kill(p.Pid(), sig)
}

// Kill is kill -9, then waits until the process is gone.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
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
func (p *Proc) Stop() { p.StopWithin(10 * time.Second) }

// StopWithin asks the process to end (SIGCONT in case it is paused, then
// SIGTERM) and kills it if it is still running after grace. Only the
// first call acts; later ones wait for it.
func (p *Proc) StopWithin(grace time.Duration) {
	p.once.Do(func() {
		_ = p.Signal(syscall.SIGCONT)
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			p.Kill()
		}
	})
}

// Log is the last 4000 bytes the process logged.
func (p *Proc) Log() string { return p.Tail(4000) }

// Tail is the last n bytes of the process's log, for error messages.
func (p *Proc) Tail(n int64) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
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
