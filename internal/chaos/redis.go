package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/testproc"
)

// Redis is one redis-server process: a standalone server or a Cluster node.
// Kill and Restart keep its port and directory, so a restarted server
// reloads its AOF and a client configured with its address finds it again.
type Redis struct {
	Name string
	Port int
	Dir  string
	env  *Env
	args []string

	mu     sync.Mutex
	proc   *testproc.Proc
	client *redis.Client
}

// StartRedis runs a standalone server with AOF and appendfsync always: every
// write it acknowledged is on disk before the reply, so a kill -9 loses
// nothing it answered.
func (e *Env) StartRedis(ctx context.Context, name string) (*Redis, error) {
	return e.newRedis(ctx, name, false, "--appendonly", "yes", "--appendfsync", "always")
}

func (e *Env) newRedis(ctx context.Context, name string, bus bool, args ...string) (*Redis, error) {
	r := &Redis{Name: name, Dir: filepath.Join(e.Dir, name), env: e, args: args}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if r.Port, err = freePort(bus); err != nil {
			return nil, err
		}
		if err = r.launch(ctx); err == nil {
			return r, nil
		}
	}
	return nil, err
}

// Addr is 127.0.0.1:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// Pid is the running process's ID (0 when killed).
func (r *Redis) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.Pid()
}

func (r *Redis) launch(ctx context.Context) error {
	args := append([]string{
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--dir", r.Dir, "--logfile", filepath.Join(r.Dir, "redis.log"),
		"--save", "", "--daemonize", "no",
	}, r.args...)
	p, err := r.env.start(r.Name, exec.Command("redis-server", args...))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.Exited() {
			log, _ := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
			return fmt.Errorf("redis-server %s exited: %s", r.Name, lastLines(string(log), 3))
		}
		// Our own process answering (not another one that took the port),
		// and done loading its AOF.
		if pid, err := r.pid(ctx); err == nil && pid == p.Pid() {
			r.mu.Lock()
			r.proc = p
			r.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill()
	return fmt.Errorf("redis-server %s on port %d did not answer within 15s", r.Name, r.Port)
}

func (r *Redis) pid(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	info, err := r.Client().Info(ctx, "server").Result()
	if err != nil {
		return 0, err
	}
	v := infoField(info, "process_id")
	if v == "" {
		return 0, fmt.Errorf("no process_id in INFO")
	}
	return strconv.Atoi(v)
}

// Client is a direct connection for inspection and fault commands (CLIENT
// KILL, CLUSTER NODES): short timeouts, no retries. It is named "chaos" so
// CLIENT LIST counts can leave it out.
func (r *Redis) Client() *redis.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client == nil {
		r.client = redis.NewClient(&redis.Options{
			Addr: r.Addr(), ClientName: "chaos", DialTimeout: 500 * time.Millisecond,
			ReadTimeout: 2 * time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 2,
		})
		c := r.client
		r.env.onClose(func() { _ = c.Close() })
	}
	return r.client
}

// Kill is kill -9 of the server; it returns once the process is gone.
func (r *Redis) Kill() {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// Restart starts the server again on the same port and directory (after
// Kill) and returns once it answers, its AOF loaded.
func (r *Redis) Restart(ctx context.Context) error {
	var err error
	for i := 0; i < 20 && ctx.Err() == nil; i++ { // the port may linger briefly after a kill
		if err = r.launch(ctx); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("restarting %s: %w", r.Name, err)
}

// Pause stops the process (SIGSTOP): it keeps its connections open and
// answers nothing, like a stalled host.
func (r *Redis) Pause() error { return r.signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (r *Redis) Resume() error { return r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) error {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%s is not running", r.Name)
	}
	return p.Signal(sig)
}

// Clients counts the server's client connections by name (CLIENT LIST),
// leaving out this suite's own.
func (r *Redis) Clients(ctx context.Context) (map[string]int, error) {
	list, err := r.Client().ClientList(ctx).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		name := ""
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "name="); ok {
				name = v
			}
		}
		if name != "chaos" {
			out[name]++
		}
	}
	return out, nil
}

// infoField reads one "key:value" line of an INFO or CLUSTER INFO answer.
func infoField(info, key string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
