package chaos

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/redlane/redlane/internal/testproc"
)

// Env is one scenario's world: its directory and every process it started,
// so that all of them are stopped by PID when the scenario ends, however it
// ends.
type Env struct {
	Dir string
	run *runEnv
	log func(format string, args ...any)

	mu      sync.Mutex
	procs   []*testproc.Proc
	closers []func()
}

// start runs cmd as a child named name and registers it for Close. Its
// stdout and stderr go to <name>.log unless already set.
func (e *Env) start(name string, cmd *exec.Cmd) (*testproc.Proc, error) {
	p, err := testproc.StartCmd(name, cmd, filepath.Join(e.Dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	e.log("started %s (pid %d)", name, p.Pid())
	return p, nil
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
			p.StopWithin(3 * time.Second)
			e.log("stopped %s (pid %d)", p.Name, p.Pid())
		}
	}
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
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
