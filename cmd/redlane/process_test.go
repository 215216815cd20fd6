package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The hostile-client tests measure the memory of a real `redlane serve`
// process from /proc, not of the test process (which holds the clients, the
// race detector's shadow memory and every other test's leftovers). The
// binary is built once per test run, without -race, as it ships.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// redlaneBinary builds ./cmd/redlane into a temporary directory (once).
func redlaneBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "redlane-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "redlane")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// removeBuiltBinary deletes what redlaneBinary built (TestMain calls it).
func removeBuiltBinary() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// process is a `redlane serve` child process. Its server value serves the
// same helpers as an in-process one (do, metric, waitStatus, dialChat).
type process struct {
	*server
	cmd    *exec.Cmd
	done   chan struct{}
	config string // its config file, which a test may rewrite (serve reloads it)
}

// startProcess runs the built binary with env as its whole environment
// (plus PATH and HOME) and config as its RedlaneConfig spec (YAML lines
// indented under spec:), with serve args added, and waits for /readyz.
func startProcess(t *testing.T, env map[string]string, spec string, args ...string) *process {
	t.Helper()
	bin := redlaneBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "redlane.yaml")
	writeFile(t, cfg, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n"+spec)
	addr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"serve", "--config", cfg, "--address", addr, "--env-file", filepath.Join(dir, "none.env")}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LOG_FORMAT=json", "LOG_LEVEL=warn"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{server: &server{t: t, URL: "http://" + addr, logs: logs}, cmd: cmd, done: make(chan struct{}), config: cfg}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("redlane log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(readyWithin)
	for {
		if resp, err := http.Get(p.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("redlane exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redlane was not ready within %s:\n%s", readyWithin, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exited says whether the process has ended, and how.
func (p *process) exited() string {
	select {
	case <-p.done:
		return "exited: " + p.cmd.ProcessState.String()
	default:
		return "running"
	}
}

// memory is a process's resident set: now and its peak (VmRSS and VmHWM of
// /proc/PID/status), in MiB.
type memory struct{ RSS, Peak float64 }

func (m memory) String() string { return fmt.Sprintf("RSS %.0f MiB (peak %.0f MiB)", m.RSS, m.Peak) }

// memory reads the process's resident set from /proc.
func (p *process) memory() memory {
	p.t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			p.t.Fatalf("/proc status %s: %v", k, err)
		}
		if k == "VmRSS" {
			m.RSS = kib / 1024
		} else {
			m.Peak = kib / 1024
		}
	}
	return m
}
