package chaos

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Env is one scenario's world: its directory and every process it started,
// so that all of them are stopped by PID when the scenario ends, however it
// ends.
type Env struct {
	Dir string
	run *runEnv
	log func(format string, args ...any)

	mu      sync.Mutex
	procs   []*Proc
	closers []func()
}

// Proc is one child process, its output in a log file under Env.Dir.
type Proc struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, once done is closed
}

// start runs cmd as a child named name and registers it for Close. Its
// stdout and stderr go to <name>.log unless already set.
func (e *Env) start(name string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Name: name, Log: filepath.Join(e.Dir, name+".log"), cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil || cmd.Stderr == nil {
		f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the child has its own descriptor
		if cmd.Stdout == nil {
			cmd.Stdout = f
		}
		if cmd.Stderr == nil {
			cmd.Stderr = f
		}
	}
	// Pdeathsig: a runner that dies takes its children with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	e.log("started %s (pid %d)", name, cmd.Process.Pid)
	return p, nil
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
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

// Stop asks the process to end (SIGCONT in case it is paused, then
// SIGTERM) and kills it if it is still running after grace.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.Signal(syscall.SIGCONT)
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// note appends text to the scenario's file name.txt, for whoever reads the
// kept work directory.
func (e *Env) note(name, text string) {
	f, err := os.OpenFile(e.path(name+".txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "--- %s\n%s\n", time.Now().Format("15:04:05.000"), text)
}

// onClose registers fn (closing a Redis client, a proxy) to run at Close.
func (e *Env) onClose(fn func()) {
	e.mu.Lock()
	e.closers = append(e.closers, fn)
	e.mu.Unlock()
}

// Close stops every process the scenario started, newest first, by PID,
// then closes its clients and proxies.
func (e *Env) Close() {
	e.mu.Lock()
	procs, closers := e.procs, e.closers
	e.procs, e.closers = nil, nil
	e.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		if p := procs[i]; !p.Exited() {
			p.Stop(3 * time.Second)
			e.log("stopped %s (pid %d)", p.Name, p.Pid())
		}
	}
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// tail returns the last n bytes of a process's log, for error messages.
func (p *Proc) tail(n int64) string {
	f, err := os.Open(p.Log)
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

// freePort finds a loopback port the kernel considers free; with bus, port
// + 10000 (a Cluster node's bus port) must be free too. Another process may
// still take it before use, so callers retry a failed start on a new port.
func freePort(bus bool) (int, error) {
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !bus {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		if bl, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			bl.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port pair for a cluster node")
}
