package image

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const devImage = "localhost/redlane:local-dev"

// TestDevImageRestartsOnChange: the dev image (Tilt's) runs its
// restart-on-change wrapper under the image's busybox as uid 65532, restarts
// the server when the binary in /app is replaced the way Tilt's live update
// replaces it (a copy into the running container), and ends on SIGTERM.
func TestDevImageRestartsOnChange(t *testing.T) {
	p := RequirePodman(t, devImage)
	name := fmt.Sprintf("redlane-dev-test-%d", os.Getpid())
	// No network: the embedded mode listens on the container's loopback.
	p.Must(t, "run", "--detach", "--name", name, "--network", "none", "--pull", "never", devImage)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := p.Out(30*time.Second, "logs", "--tail", "30", name)
			t.Logf("logs of %s:\n%s", name, logs)
		}
		if _, err := p.Out(time.Minute, "rm", "--force", "--time", "0", name); err != nil {
			t.Errorf("removing %s: %v", name, err)
		}
	})
	waitLogs := func(substr string, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			logs, _ := p.Out(30*time.Second, "logs", name)
			if strings.Count(logs, substr) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q not logged %d times:\n%s", substr, n, logs)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	waitLogs(`"msg":"listening"`, 1)
	if user := p.Must(t, "exec", name, "id", "-u"); user != "65532" {
		t.Errorf("dev container runs as uid %s", user)
	}

	// What Tilt's sync does: a new file at /app/redlane in the running container.
	bin := filepath.Join(t.TempDir(), "redlane")
	p.Must(t, "cp", name+":/app/redlane", bin)
	now := time.Now()
	if err := os.Chtimes(bin, now, now); err != nil {
		t.Fatal(err)
	}
	p.Must(t, "cp", bin, name+":/app/redlane")
	waitLogs("restart-on-change: /app/redlane changed, restarting", 1)
	waitLogs(`"msg":"listening"`, 2)

	p.Must(t, "stop", "--time", "20", name)
	if code := p.Must(t, "inspect", "--format", "{{.State.ExitCode}}", name); code != "143" {
		t.Errorf("exit code after SIGTERM = %s, want 143 (the wrapper's)", code)
	}
}
