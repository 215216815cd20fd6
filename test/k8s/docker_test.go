package k8s

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/redistest"
)

// What is checked here without a container runtime: the Dockerfile's
// structure, and the binary built with exactly its flags, run as the image
// runs it (uid 65532, unwritable working directory, no HOME), writing
// nothing. test/image builds the image itself with podman and runs it.

func TestDockerfileStructure(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG (\w+)=(\S+)$`).FindAllStringSubmatch(df, -1) {
		args[m[1]] = m[2]
	}
	var stages []string // "image AS name"
	for _, m := range regexp.MustCompile(`(?m)^FROM (\S+) AS (\w+)$`).FindAllStringSubmatch(df, -1) {
		img := m[1]
		if strings.HasPrefix(img, "${") {
			img = args[strings.Trim(img, "${}")]
		}
		stages = append(stages, img+" AS "+m[2])
	}
	if len(stages) != 3 {
		t.Fatalf("want builder, dev and runtime stages, got %v", stages)
	}
	goMod, _ := os.ReadFile(filepath.Join(RepoRoot(), "go.mod"))
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(goMod))
	if !regexp.MustCompile(`^golang:` + regexp.QuoteMeta(goLine[1]) + `\.\d+-\w+ AS builder$`).MatchString(stages[0]) {
		t.Errorf("builder %q is not a pinned golang:%s.N image", stages[0], goLine[1])
	}
	if stages[1] != "gcr.io/distroless/static-debian12:debug-nonroot AS dev" {
		t.Errorf("dev stage = %q", stages[1])
	}
	if stages[2] != "gcr.io/distroless/static-debian12:nonroot AS runtime" {
		t.Errorf("the last (default) stage must be distroless static nonroot, got %q", stages[2])
	}
	runtime := df[strings.LastIndex(df, "FROM "):]
	for _, want := range []string{"USER 65532:65532", `ENTRYPOINT ["/usr/local/bin/redlane"]`, `CMD ["serve"]`, "COPY --from=builder /out/redlane"} {
		if !strings.Contains(runtime, want) {
			t.Errorf("runtime stage lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?m)^RUN `).MatchString(runtime) {
		t.Error("runtime stage runs commands: it has no shell")
	}
	if !strings.Contains(df, "USER 65532:65532\nWORKDIR /app") {
		t.Error("dev stage must run as the numeric non-root user")
	}
	env, build, err := dockerfileBuild(filepath.Join(RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(append(env, build...), " ")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "-o /out/redlane"} {
		if !strings.Contains(joined, want) {
			t.Errorf("builder does not build with %s: %s", want, joined)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(RepoRoot(), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n*\n", "!go.mod", "!go.sum", "!cmd/", "!internal/", "!bin/tilt/redlane", "!tools/image/restart-on-change"} {
		if !strings.Contains(string(ignore), want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
}

// TestDevRestartWrapper: the dev image's restart-on-change wrapper restarts
// the program when Tilt's live update replaces the binary, and passes the
// exit status through otherwise.
func TestDevRestartWrapper(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	const copyLine = "COPY --chown=65532:65532 --chmod=0755 tools/image/restart-on-change /app/restart-on-change\n"
	if !strings.Contains(string(b), copyLine) {
		t.Fatalf("the dev stage does not copy the wrapper: want %q", copyLine)
	}
	src, err := os.ReadFile(filepath.Join(RepoRoot(), "tools", "image", "restart-on-change"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "restart-on-change")
	// The image runs it with busybox sh; here /bin/sh runs the same POSIX script.
	script := strings.Replace(string(src), "#!/busybox/sh", "#!/bin/sh", 1)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "prog")
	starts := filepath.Join(dir, "starts")
	writeProg := func(version string) {
		tmp := prog + ".new"
		body := fmt.Sprintf("#!/bin/sh\necho %s >> %s\nexec sleep 60\n", version, starts)
		if err := os.WriteFile(tmp, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, prog); err != nil { // like a sync: a new file
			t.Fatal(err)
		}
	}
	writeProg("v1")
	cmd := exec.Command(wrapper, prog)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	waitFile := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			b, _ := os.ReadFile(starts)
			if strings.TrimSpace(string(b)) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("starts = %q, want %q", b, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFile("v1")
	writeProg("v2")
	waitFile("v1\nv2")
	// SIGTERM reaches the program and ends the wrapper.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("wrapper did not stop on SIGTERM")
	}
}

const nonroot = 65532

// TestBinaryRunsUnprivilegedReadOnly: the binary, built with the
// Dockerfile's flags, starts as uid/gid 65532 in a working directory it
// cannot write, with HOME unset and an empty unwritable TMPDIR, serves
// /readyz against a real password-protected Redis and in embedded mode,
// stops cleanly on SIGTERM, and leaves no file behind anywhere it could
// have written.
func TestBinaryRunsUnprivilegedReadOnly(t *testing.T) {
	redistest.Require(t, "redis-server", "setpriv")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("switching to uid 65532 needs root; CI runs as root")
		}
		t.Skip("needs root to switch to uid 65532")
	}
	bin := redlaneBinary(t)
	// The binary's directory chain must be traversable by uid 65532.
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	rs := redistest.Start(t, redistest.WithPassword("unpriv-test-password"))

	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"real-redis", []string{"REDIS_URL=redis://" + rs.Addr() + "/0", "REDIS_PASSWORD=unpriv-test-password"}},
		{"embedded", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, err := os.MkdirTemp("", "redlane-ro-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(root)
			work, tmp := filepath.Join(root, "work"), filepath.Join(root, "tmp")
			for _, d := range []string{work, tmp} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// Readable and traversable, writable by root only.
			for _, d := range []string{root, work, tmp} {
				if err := os.Chmod(d, 0o555); err != nil {
					t.Fatal(err)
				}
			}
			defer os.Chmod(root, 0o755)
			before := ownedBy(t, nonroot, "/tmp", "/var/tmp", "/dev/shm")

			ports, err := freePorts(1)
			if err != nil {
				t.Fatal(err)
			}
			port := ports[0]
			env := append([]string{"PATH=/usr/bin:/bin", "TMPDIR=" + tmp, "LOG_FORMAT=json"}, tc.env...)
			cmd := exec.Command("setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", "--no-new-privs", "--",
				bin, "serve", "--address", fmt.Sprintf("127.0.0.1:%d", port), "--env-file", filepath.Join(work, ".env"))
			cmd.Dir = work
			cmd.Env = env // no HOME
			var logs strings.Builder
			cmd.Stdout, cmd.Stderr = &logs, &logs
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			var waitErr error
			go func() { waitErr = cmd.Wait(); close(exited) }()
			defer func() {
				_ = cmd.Process.Kill()
				<-exited
			}()

			url := fmt.Sprintf("http://127.0.0.1:%d", port)
			if err := pollHTTP(url+"/readyz", "", 20*time.Second, exited); err != nil {
				t.Fatalf("/readyz: %v\nlogs:\n%s", err, logs.String())
			}
			if err := pollHTTP(url+"/healthz", "", 5*time.Second, exited); err != nil {
				t.Fatalf("/healthz: %v", err)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
				if waitErr != nil {
					t.Errorf("exit after SIGTERM: %v\nlogs:\n%s", waitErr, logs.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no exit within 30s of SIGTERM\nlogs:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), "permission denied") || strings.Contains(logs.String(), "read-only") {
				t.Errorf("the binary tried to write somewhere:\n%s", logs.String())
			}
			for _, d := range []string{work, tmp} {
				entries, err := os.ReadDir(d)
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != 0 {
					t.Errorf("%s is not empty after the run: %v", d, entries)
				}
			}
			after := ownedBy(t, nonroot, "/tmp", "/var/tmp", "/dev/shm")
			for p := range after {
				if !before[p] {
					t.Errorf("the run left %s (owned by uid %d)", p, nonroot)
				}
			}
			if tc.name == "embedded" && !strings.Contains(logs.String(), "EMBEDDED") {
				t.Errorf("embedded mode did not say so:\n%s", logs.String())
			}
		})
	}
}

// ownedBy lists files under dirs owned by uid.
func ownedBy(t *testing.T, uid uint32, dirs ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable or vanished: other processes' business
			}
			if info, err := e.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == uid {
					out[p] = true
				}
			}
			return nil
		})
	}
	return out
}
