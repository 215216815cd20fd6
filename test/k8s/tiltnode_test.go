package k8s

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTiltOnRealNode runs the repository's Tiltfile the way a developer
// does, against the real node (realNode): `tilt ci` compiles the binary,
// builds the dev image through podman's Docker-compatible API, pushes it to
// the registry the cluster advertises (the KEP-1755 ConfigMap
// kube-public/local-registry-hosting, which Tilt reads), deploys the chart
// and waits until every resource is Ready — the Redlane pod through its real
// probes, and the smoke resource's curl through Tilt's port-forward. Then
// `tilt up` live-updates a changed binary: the source changes, Tilt
// recompiles and syncs the file into the running container (an exec through
// the API server and the kubelet), the dev image's wrapper restarts the
// process, and the forwarded port serves the new build — in the same pod,
// without an image build or a container restart.
func TestTiltOnRealNode(t *testing.T) {
	c, node, pulled, values := realNode(t)
	tools := RequireTools(t)
	dir := t.TempDir()

	// A copy of what the Tiltfile reads, so that the live update below can
	// change a source file without touching the checkout.
	src := filepath.Join(dir, "src")
	for _, p := range []string{"Tiltfile", "Dockerfile", ".dockerignore", "go.mod", "go.sum", "cmd", "internal", "charts", "tools/image/restart-on-change"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(RepoRoot(), p), filepath.Join(src, p)).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v %s", p, err, out)
		}
	}

	// podman's Docker-compatible API for Tilt's docker_build, pushing to
	// the registry over plain HTTP (registries.conf), with the runtime
	// flags that work on this host.
	reg := strings.SplitN(pulled["localhost/redlane:local"], "/", 2)[0]
	regConf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(regConf, []byte(fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n", reg)), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "podman.sock")
	podman := exec.Command("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "system", "service", "--time=0", "unix://"+sock)
	podman.Env = append(os.Environ(), "CONTAINERS_REGISTRIES_CONF="+regConf)
	podmanLog, err := os.Create(filepath.Join(dir, "podman.log"))
	if err != nil {
		t.Fatal(err)
	}
	podman.Stdout, podman.Stderr = podmanLog, podmanLog
	podman.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := podman.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-podman.Process.Pid, syscall.SIGTERM); _ = podman.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(podmanLog.Name())
			t.Fatalf("podman system service did not create %s:\n%s", sock, b)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The cluster advertises its registry as kind and k3d clusters do.
	c.Kubectl("apply", "-f", "-").WithStdin(fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: local-registry-hosting, namespace: kube-public}
data:
  localRegistryHosting.v1: |
    host: %q
    help: "the test registry on loopback (test/k8s/registry.go)"
`, reg)).Must(t)

	port := FreePort(t)
	home := filepath.Join(dir, "home")
	env := []string{
		"PATH=" + filepath.Join(tools.Dir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + home, "KUBECONFIG=" + c.Kubeconfig, "TILT_DISABLE_ANALYTICS=1",
		"DOCKER_HOST=unix://" + sock, "DOCKER_BUILDKIT=0",
	}
	// Tilt's compile step is `go build`: the machine's module and build
	// caches, not new ones under the test's HOME.
	for _, v := range []string{"GOMODCACHE", "GOCACHE"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", v, err)
		}
		env = append(env, v+"="+strings.TrimSpace(string(out)))
	}
	// The chart's other images come from the registry, as in the other
	// real-node tests; Redis standalone (the cluster mode is
	// TestChartClusterModeOnRealNode's).
	tiltArgs := []string{"--", "--port=" + fmt.Sprint(port), "--values=" + values,
		"--dev-base=localhost/redlane-base-static:debian12-debug-nonroot", "--allow-context=redlane-test"}

	// --web-mode=prod: the embedded web assets (tools.sh embeds a one-page
	// stand-in; the module has no UI). A Tilt built from source otherwise
	// runs its UI's webpack dev server from the module's web/ sources.
	start := time.Now()
	ci := Cmd{Bin: tools.Bin("tilt"), Dir: src, Env: env, Timeout: 12 * time.Minute,
		Args: append([]string{"ci", "--port", fmt.Sprint(FreePort(t)), "--web-mode=prod", "--timeout", "10m"}, tiltArgs...)}
	out, errOut, err := ci.Run()
	if err != nil {
		t.Fatalf("tilt ci: %v\nstdout:\n%s\nstderr:\n%s\n%s", err, tail(out, 80), tail(errOut, 40), c.dump("default"))
	}
	t.Logf("tilt ci: every resource Ready in %s", time.Since(start).Round(time.Second))

	pod := c.Kubectl("get", "pods", "-l", "app.kubernetes.io/name=redlane,app.kubernetes.io/component=app", "-o", "jsonpath={.items[0].metadata.name}").Must(t)
	if pod == "" {
		t.Fatalf("no Redlane pod after tilt ci\n%s", c.dump("default"))
	}
	if got := c.Kubectl("get", "pod", pod, "-o", "jsonpath={.spec.nodeName}").Must(t); got != node.Name {
		t.Fatalf("%s runs on %q, not on the real node", pod, got)
	}
	image := c.Kubectl("get", "pod", pod, "-o", "jsonpath={.spec.containers[0].image}").Must(t)
	if !strings.HasPrefix(image, reg+"/redlane-dev:tilt-") {
		t.Errorf("the pod runs %q, want the dev image Tilt pushed to %s", image, reg)
	}

	// Live update: `tilt up` on the running resources; a changed source
	// file reaches the same container as a new binary.
	upLog := filepath.Join(dir, "tilt-up.log")
	up := exec.Command(tools.Bin("tilt"), append([]string{"up", "--stream", "--port", fmt.Sprint(FreePort(t)), "--web-mode=prod"}, tiltArgs...)...)
	up.Dir, up.Env = src, append(os.Environ(), env...)
	logf, err := os.Create(upLog)
	if err != nil {
		t.Fatal(err)
	}
	up.Stdout, up.Stderr = logf, logf
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-up.Process.Pid, syscall.SIGTERM); _ = up.Wait(); logf.Close() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	upLogTail := func() string { b, _ := os.ReadFile(upLog); return tail(string(b), 60) }
	if v := waitVersion(t, base, func(v string) bool { return v != "" }, 5*time.Minute); v == "" {
		t.Fatalf("tilt up: the API is not served at %s\n%s", base, upLogTail())
	}

	marker := fmt.Sprintf("live-%d", time.Now().UnixNano())
	change := fmt.Sprintf("package main\n\nfunc init() { version = %q }\n", marker)
	if err := os.WriteFile(filepath.Join(src, "cmd", "redlane", "zz_live_update.go"), []byte(change), 0o644); err != nil {
		t.Fatal(err)
	}
	edited := time.Now()
	if v := waitVersion(t, base, func(v string) bool { return v == marker }, 5*time.Minute); v != marker {
		t.Fatalf("the changed binary is not served (version %q, want %q)\n%s", v, marker, upLogTail())
	}
	t.Logf("live update: the changed binary served %s after the edit", time.Since(edited).Round(time.Second))
	after := c.Kubectl("get", "pods", "-l", "app.kubernetes.io/name=redlane,app.kubernetes.io/component=app", "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].restartCount}{\"\\n\"}{end}").Must(t)
	if strings.TrimSpace(after) != pod+" 0" {
		t.Errorf("after the live update the pods are %q, want %s alone with no container restart", after, pod)
	}
	if b, _ := os.ReadFile(upLog); !strings.Contains(string(b), "Will copy 1 file(s) to container") {
		t.Errorf("tilt up did not log a live update:\n%s", upLogTail())
	}
	if l := node.Logs(pod, "redlane"); !strings.Contains(l, "restart-on-change: /app/redlane changed, restarting") {
		t.Errorf("the dev image's wrapper did not restart the binary; container log:\n%s", tail(l, 20))
	}
}

var buildInfoVersion = regexp.MustCompile(`redlane_build_info\{[^}]*version="([^"]*)"`)

// waitVersion polls base/metrics until ok accepts redlane_build_info's
// version label (the binary's version), and returns the last one seen.
func waitVersion(t *testing.T, base string, ok func(string) bool, timeout time.Duration) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	last := ""
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Second) {
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if m := buildInfoVersion.FindStringSubmatch(sc.Text()); m != nil {
				last = m[1]
			}
		}
		resp.Body.Close()
		if ok(last) {
			return last
		}
	}
	return last
}
