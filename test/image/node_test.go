package image

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redlane/redlane/test/k8s"
)

// pauseImage is podman's own pause image (catatonit), which podman builds
// locally the first time it creates a pod; containerd uses it as the
// sandbox image, since no registry serves registry.k8s.io/pause here.
const pauseImage = "localhost/podman-pause:4.3.1-0"

// TestKubeletRunsImages is the first step of a real node: a kubelet 1.35.4
// (test/k8s/kubelet.sh) with containerd 1.6 (Debian's), runc and a CNI
// bridge runs a pod of the built Redis and Redlane images. The kubelet's own
// readiness probe marks it Ready, the host reaches /readyz at the pod's IP,
// and removing the pod stops its containers. The pod is a static pod (the
// kubelet is not joined to an API server yet), so it cannot take the chart's
// Secret and ConfigMaps: it runs the images with the chart's security
// context, not the chart's pod.
func TestKubeletRunsImages(t *testing.T) {
	p := RequirePodman(t, appImage, redisImage)
	for _, bin := range []string{"containerd", "ctr", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; .ci/run installs containerd", bin)
			}
			t.Skipf("%s is not installed (apt-get install containerd)", bin)
		}
	}
	out, err := exec.Command("bash", filepath.Join(k8s.RepoRoot(), "test", "k8s", "kubelet.sh"), "--dir").Output()
	if err != nil {
		t.Fatal(err)
	}
	kubelet := filepath.Join(strings.TrimSpace(string(out)), "bin", "kubelet")
	if _, err := os.Stat(kubelet); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no kubelet at %s; .ci/run runs test/k8s/kubelet.sh", kubelet)
		}
		t.Skipf("no kubelet at %s (test/k8s/kubelet.sh)", kubelet)
	}
	if _, err := p.Out(time.Minute, "image", "exists", pauseImage); err != nil {
		// Creating a pod makes podman build its pause image.
		name := fmt.Sprintf("redlane-pause-%d", os.Getpid())
		p.Must(t, "pod", "create", "--name", name)
		p.Must(t, "pod", "rm", "--force", name)
	}

	// Short paths: unix socket names are limited to 108 bytes.
	root, err := os.MkdirTemp("", "rl-node-")
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getpid() % 200
	n := &node{t: t, root: root, bridge: fmt.Sprintf("rlnode%d", os.Getpid()%100000)}
	t.Cleanup(n.cleanup)

	n.startContainerd(t)
	for _, img := range []string{pauseImage, appImage, redisImage} {
		archive := filepath.Join(root, "image.tar")
		p.Must(t, "save", "--format", "oci-archive", "-o", archive, img)
		n.ctr(t, "images", "import", "--base-name", strings.Split(img, ":")[0], archive)
		os.Remove(archive)
	}
	n.startKubelet(t, kubelet, fmt.Sprintf("10.245.%d.0/24", id))

	manifest := filepath.Join(root, "manifests", "redlane.yaml")
	if err := os.WriteFile(manifest, []byte(staticPod), 0o644); err != nil {
		t.Fatal(err)
	}
	var ip string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pod, ok := n.pod(t, "redlane-node-test")
		if ok && pod.Str("status", "podIP") != "" && ready(pod) {
			ip = pod.Str("status", "podIP")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Ready through the kubelet's probe: %v", pod["status"])
		}
		time.Sleep(time.Second)
	}
	t.Logf("pod Ready at %s", ip)
	if code, err := get("http://" + ip + ":8000/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("GET /readyz at the pod IP: %d %v", code, err)
	}

	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		tasks := strings.TrimSpace(n.ctr(t, "tasks", "ls", "-q"))
		if tasks == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers still running after the pod was removed: %s", tasks)
		}
		time.Sleep(time.Second)
	}
}

// staticPod runs both images with the chart's container security context.
// Redis keeps nothing on disk (its root is read-only); Redlane uses it and
// its embedded users database.
const staticPod = `
apiVersion: v1
kind: Pod
metadata: {name: redlane-node-test, namespace: default}
spec:
  terminationGracePeriodSeconds: 20
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: redis
    image: localhost/redlane-redis:7.0.15-debian12
    imagePullPolicy: Never
    command: [redis-server, --port, "6379", --save, "", --appendonly, "no"]
    securityContext: {runAsUser: 999, runAsGroup: 999, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
  - name: redlane
    image: localhost/redlane:local
    imagePullPolicy: Never
    args: [serve, --address, "0.0.0.0:8000"]
    env:
    - {name: REDIS_URL, value: "redis://127.0.0.1:6379/0"}
    - {name: SECRET_KEY, value: "node-test-secret-key-0123456789abcdef"}
    - {name: ADMIN_TOKEN, value: "node-test-admin-token-0123456789abcdef"}
    readinessProbe: {httpGet: {path: /readyz, port: 8000}, periodSeconds: 1}
    securityContext: {runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`

// node is a containerd and a standalone kubelet under one temporary root.
type node struct {
	t           *testing.T
	root        string
	bridge      string
	containerd  *exec.Cmd
	kubelet     *exec.Cmd
	kubeletPort int
}

func (n *node) sock() string { return filepath.Join(n.root, "containerd.sock") }

func (n *node) ctr(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ctr", append([]string{"--address", n.sock(), "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (n *node) startContainerd(t *testing.T) {
	t.Helper()
	cni := filepath.Join(n.root, "cni")
	if err := os.MkdirAll(cni, 0o755); err != nil {
		t.Fatal(err)
	}
	// restrict_oom_score_adj: runc cannot lower oom_score_adj here (no
	// CAP_SYS_RESOURCE), which the kubelet asks for the sandbox (-998);
	// without it every sandbox fails with "can't get final child's PID from
	// pipe: EOF".
	conf := fmt.Sprintf(`version = 2
root = "%[1]s/containerd"
state = "%[1]s/containerd-state"
[grpc]
  address = "%[2]s"
[ttrpc]
  address = "%[2]s.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  sandbox_image = "%[3]s"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "%[4]s"
`, n.root, n.sock(), pauseImage, cni)
	confFile := filepath.Join(n.root, "containerd.toml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.containerd = n.start(t, "containerd", "containerd", "--config", confFile)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := exec.Command("ctr", "--address", n.sock(), "version").Run(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not start; log:\n%s", n.log("containerd"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (n *node) startKubelet(t *testing.T, bin, subnet string) {
	t.Helper()
	// The pod network: a bridge of its own, addresses kept under the root,
	// no masquerading (the host reaches the pods directly).
	conflist := fmt.Sprintf(`{"cniVersion":"0.4.0","name":"%[1]s","plugins":[
{"type":"bridge","bridge":"%[1]s","isGateway":true,"ipam":{"type":"host-local","dataDir":"%[2]s/cni-ipam","ranges":[[{"subnet":"%[3]s"}]]}},
{"type":"loopback"}]}`, n.bridge, n.root, subnet)
	if err := os.WriteFile(filepath.Join(n.root, "cni", "10-node.conflist"), []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(n.root, "manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.kubeletPort = freePort(t)
	// failCgroupV1 false and cgroupfs: this host is cgroup v1 without
	// systemd. No node allocatable or QoS cgroups, no eviction: the
	// kubelet shares the machine.
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%[1]s
address: 127.0.0.1
port: %[2]d
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
readOnlyPort: 0
staticPodPath: %[4]s/manifests
podLogsDir: %[4]s/pod-logs
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
enforceNodeAllocatable: []
cgroupsPerQOS: false
resolvConf: ""
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
fileCheckFrequency: 1s
`, n.sock(), n.kubeletPort, freePort(t), n.root)
	confFile := filepath.Join(n.root, "kubelet.yaml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.kubelet = n.start(t, "kubelet", bin, "--config", confFile, "--root-dir", filepath.Join(n.root, "kubelet"),
		"--hostname-override", "redlane-node-test", "--v", "1")
}

// start runs a daemon with its output in <root>/<name>.log.
func (n *node) start(t *testing.T, name, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(n.root, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	return cmd
}

func (n *node) log(name string) string {
	b, _ := os.ReadFile(filepath.Join(n.root, name+".log"))
	return tail(string(b), 40)
}

// pod returns the kubelet's view of a pod (spec and status) from its API.
func (n *node) pod(t *testing.T, name string) (k8s.Object, bool) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// The kubelet's self-signed serving certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/pods", n.kubeletPort))
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var list struct{ Items []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, false
	}
	for _, item := range list.Items {
		if o := k8s.Object(item); strings.HasPrefix(o.Name(), name) {
			return o, true
		}
	}
	return nil, false
}

func ready(pod k8s.Object) bool {
	for _, c := range pod.List("status", "conditions") {
		co := k8s.Object(c.(map[string]any))
		if co.Str("type") == "Ready" && co.Str("status") == "True" {
			return true
		}
	}
	return false
}

// cleanup stops the kubelet, every container left, containerd, and removes
// the mounts, the bridge and the root.
func (n *node) cleanup() {
	t := n.t
	if t.Failed() {
		t.Logf("kubelet log:\n%s\ncontainerd log:\n%s", n.log("kubelet"), n.log("containerd"))
		logs, _ := filepath.Glob(filepath.Join(n.root, "pod-logs", "*", "*", "*.log"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", f, tail(string(b), 10))
		}
	}
	stop := func(cmd *exec.Cmd) {
		if cmd == nil || cmd.Process == nil {
			return
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	stop(n.kubelet)
	if n.containerd != nil {
		ctr := func(args ...string) string {
			out, _ := exec.Command("ctr", append([]string{"--address", n.sock(), "--namespace", "k8s.io"}, args...)...).Output()
			return string(out)
		}
		for _, id := range strings.Fields(ctr("tasks", "ls", "-q")) {
			ctr("tasks", "kill", "--signal", "SIGKILL", id)
			time.Sleep(200 * time.Millisecond)
			ctr("tasks", "delete", "--force", id)
		}
		for _, id := range strings.Fields(ctr("containers", "ls", "-q")) {
			ctr("containers", "delete", id)
		}
	}
	stop(n.containerd)
	// Unmount what the kubelet and containerd left under the root, deepest
	// first.
	b, _ := os.ReadFile("/proc/mounts")
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], n.root) {
			mounts = append(mounts, f[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", mounts[i], err)
		}
	}
	if err := exec.Command("ip", "link", "show", n.bridge).Run(); err == nil {
		if out, err := exec.Command("ip", "link", "delete", n.bridge).CombinedOutput(); err != nil {
			t.Errorf("deleting bridge %s: %v %s", n.bridge, err, out)
		}
	}
	if err := os.RemoveAll(n.root); err != nil {
		t.Errorf("removing %s: %v", n.root, err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
