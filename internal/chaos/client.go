package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redlane/redlane/internal/testproc"
)

// clientEnv names the client mode a re-executed chaos binary runs. Clients
// are separate processes so that a fault in Redlane or Redis is seen through
// real sockets, and so that a worker can be killed with kill -9.
const clientEnv = "REDLANE_CHAOS_CLIENT"

// clientModes are the client programs: each records what it saw in the
// file given by -out, for the scenario to judge.
var clientModes = map[string]func(ctx context.Context, args []string, out io.Writer) error{
	"chat":    runChatClient,
	"publish": runPublisher,
	"http":    runHTTPLoad,
	"worker":  runWorker,
}

// RunClient runs the client mode named by REDLANE_CHAOS_CLIENT, if set. The
// chaos command calls it first and, when ran is true, exits with code.
// SIGINT or SIGTERM end a client cleanly (it writes its record); SIGKILL is
// how a scenario kills a worker mid-task.
func RunClient(args []string) (code int, ran bool) {
	mode := os.Getenv(clientEnv)
	if mode == "" {
		return 0, false
	}
	fn := clientModes[mode]
	if fn == nil {
		fmt.Fprintf(os.Stderr, "redlane-chaos: unknown client mode %q\n", mode)
		return 2, true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := fn(ctx, args, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "redlane-chaos %s client: %v\n", mode, err)
		return 1, true
	}
	return 0, true
}

// clientFlags is the flag set every client mode starts from.
func clientFlags(mode string) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	targets := fs.String("targets", "", "comma-separated Redlane base URLs")
	out := fs.String("out", "", "file the client writes its record to")
	return fs, targets, out
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// writeJSON writes v to path in one go, for records read after the client
// exits.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// clientProc is a running client process as its scenario sees it.
type clientProc struct {
	*testproc.Proc
	Out   string // its record
	ready chan string
}

// startClient re-executes the chaos binary in mode with args (plus -out),
// and follows its stdout for the "ready" line.
func (e *Env) startClient(name, mode string, args ...string) (*clientProc, error) {
	out := e.path(name + ".out")
	cmd := exec.Command(e.run.clientBin, append(args, "-out", out)...)
	cmd.Env = append(os.Environ(), clientEnv+"="+mode)
	cmd.Dir = e.Dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(e.path(name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	c := &clientProc{Out: out, ready: make(chan string, 1)}
	// stdout is a pipe here; start sets only what is still nil.
	if c.Proc, err = e.start(name, cmd); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "ready") {
				select {
				case c.ready <- line:
				default:
				}
			}
		}
	}()
	return c, nil
}

// waitReady waits for the client's "ready" line and returns it.
func (c *clientProc) waitReady(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line := <-c.ready:
		return line, nil
	case <-c.Done():
		return "", fmt.Errorf("%s exited before it was ready: %s", c.Name, c.Tail(400))
	case <-t.C:
		return "", fmt.Errorf("%s was not ready within %s", c.Name, timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// finish asks the client to end (SIGINT) and waits for its record.
func (c *clientProc) finish(timeout time.Duration) error {
	_ = c.Signal(syscall.SIGINT)
	select {
	case <-c.Done():
	case <-time.After(timeout):
		c.Kill()
		return fmt.Errorf("%s did not finish within %s", c.Name, timeout)
	}
	if err := c.ExitErr(); err != nil {
		return fmt.Errorf("%s: %v: %s", c.Name, err, c.Tail(400))
	}
	return nil
}

// readRecord decodes a client's record file into v.
func readRecord(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return errors.New(path + " is empty")
	}
	return json.Unmarshal(b, v)
}
