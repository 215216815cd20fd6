package k8s

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ChartDir is charts/redlane.
func ChartDir() string { return filepath.Join(RepoRoot(), "charts", "redlane") }

var (
	toolsOnce sync.Once
	toolsDir  string
	toolsErr  error
)

// Tools is the toolset directory built by tools.sh.
type Tools struct{ Dir string }

// Bin is the path of one tool.
func (t Tools) Bin(name string) string { return filepath.Join(t.Dir, "bin", name) }

// Share is the path of a file under share/.
func (t Tools) Share(name string) string { return filepath.Join(t.Dir, "share", name) }

// RequireTools returns the built toolset. Without it the test is skipped
// locally and fails under CI=true (where .ci/run builds the tools first).
// REDLANE_K8S_TOOLS overrides the directory.
func RequireTools(t testing.TB) Tools {
	t.Helper()
	toolsOnce.Do(func() {
		toolsDir = os.Getenv("REDLANE_K8S_TOOLS")
		if toolsDir == "" {
			out, err := exec.Command("bash", filepath.Join(RepoRoot(), "test", "k8s", "tools.sh"), "--dir").Output()
			if err != nil {
				toolsErr = fmt.Errorf("tools.sh --dir: %w", err)
				return
			}
			toolsDir = strings.TrimSpace(string(out))
		}
		if _, err := os.Stat(filepath.Join(toolsDir, ".complete-2")); err != nil { // tools.sh's completion marker
			toolsErr = fmt.Errorf("the Kubernetes toolset is not built in %s", toolsDir)
		}
	})
	if toolsErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; CI must build it (.ci/run runs test/k8s/tools.sh)", toolsErr)
		}
		t.Skipf("%v; run test/k8s/tools.sh (about half an hour cold on 2 cores, once per machine)", toolsErr)
	}
	return Tools{Dir: toolsDir}
}

// Cmd describes one command run by a test.
type Cmd struct {
	Bin   string
	Args  []string
	Env   []string
	Stdin []byte
	Dir   string
	// Timeout bounds the command (default 2 minutes): a hung tool fails
	// the test instead of hanging it.
	Timeout time.Duration
}

// Run runs c and returns stdout, stderr and the error (non-nil on a
// non-zero exit).
func (c Cmd) Run() (string, string, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Dir = c.Dir
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %s: %w", filepath.Base(c.Bin), timeout, err)
	}
	return stdout.String(), stderr.String(), err
}

// Must runs c and fails the test on a non-zero exit, showing the output.
func (c Cmd) Must(t testing.TB) string {
	t.Helper()
	out, errOut, err := c.Run()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(c.Bin), strings.Join(c.Args, " "), err, tail(out, 60), tail(errOut, 60))
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// Helm runs helm with its caches in a private directory (no network, no
// user configuration).
func (t Tools) Helm(tb testing.TB, args ...string) Cmd {
	home := helmHome(tb)
	return Cmd{Bin: t.Bin("helm"), Args: args, Env: []string{
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
	}}
}

var (
	helmHomeOnce sync.Once
	helmHomeDir  string
)

func helmHome(tb testing.TB) string {
	helmHomeOnce.Do(func() {
		d, err := os.MkdirTemp("", "redlane-helm-")
		if err != nil {
			tb.Fatal(err)
		}
		helmHomeDir = d
	})
	return helmHomeDir
}

// cleanupShared removes what the package's tests share; TestMain calls it.
func cleanupShared() {
	if helmHomeDir != "" {
		os.RemoveAll(helmHomeDir)
	}
}
