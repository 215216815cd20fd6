package k8s

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The images `make image` builds, and podman's local pause image.
var realNodeImages = []string{
	"localhost/podman-pause:4.3.1-0",
	"localhost/redlane:local",
	"localhost/redlane-redis:7.0.15-debian12",
}

// TestChartOnRealNode is level 3 as far as this machine goes so far: a
// control plane of its own (kwok's fake node tainted away) with a real node
// joined (kubelet 1.35.4, containerd, runc, CNI bridge, CoreDNS, kube-proxy;
// test/k8s/node.go). `helm install` schedules the chart's pods onto it; the
// Redis StatefulSet's pod becomes Ready through its real exec probe with the
// rendered Secret env and ConfigMap files, and redis-cli from the host (over
// the CNI bridge, with the Secret's password) reads the values' memory
// settings back; the Redlane pod reaches Redis through its Service, becomes
// Ready through its real probe and serves /readyz at its pod IP.
func TestChartOnRealNode(t *testing.T) {
	tools := RequireTools(t)
	kubelet := RequireKubelet(t)
	for _, img := range realNodeImages {
		if err := exec.Command("podman", "image", "exists", img).Run(); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("image %s is missing; .ci/run runs make image (and test/image creates the pause image)", img)
			}
			t.Skipf("image %s is missing (make image; make test-image creates the pause image)", img)
		}
	}
	c, err := startControlPlane(tools)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop) // after the node's cleanup (LIFO)
	c.Kubectl("taint", "node", "kwok-node-0", "redlane.dev/fake=true:NoSchedule").Must(t)
	bin := filepath.Dir(kubelet)
	for _, b := range []string{"coredns", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("no %s in %s; .ci/run runs test/k8s/kubelet.sh", b, bin)
			}
			t.Skipf("no %s in %s (test/k8s/kubelet.sh)", b, bin)
		}
	}
	node := StartNode(t, NodeOptions{Kubelet: kubelet, Kubeconfig: c.Kubeconfig, Images: realNodeImages,
		PauseImage: realNodeImages[0], Subnet: fmt.Sprintf("10.246.%d.0/24", os.Getpid()%200), ClusterDNS: true})
	node.StartClusterServices(t, filepath.Join(bin, "coredns"), filepath.Join(bin, "kube-proxy"), c.Kubeconfig, "redlane-test")
	if _, errOut, err := c.kubectlWait(2*time.Minute, "wait", "--for=condition=Ready", "node/"+node.Name, "--timeout=120s"); err != nil {
		t.Fatalf("node not Ready: %v %s", err, errOut)
	}

	c.Helm(t, "install", "real", ChartDir(), "-f", LocalImagesValues()).Must(t)
	t.Cleanup(func() { _, _, _ = c.Helm(t, "uninstall", "real", "--wait", "--timeout", "60s").Run() })
	redis := "pod/real-redlane-redis-0"
	if _, errOut, err := c.kubectlWait(3*time.Minute, "wait", "--for=condition=Ready", redis, "--timeout=180s"); err != nil {
		t.Fatalf("%s not Ready: %v %s\n%s", redis, err, errOut, c.dump("default"))
	}
	if got := c.Kubectl("get", redis, "-o", "jsonpath={.spec.nodeName}").Must(t); got != node.Name {
		t.Fatalf("%s runs on %q, not on the real node", redis, got)
	}
	// The host reaches the pod over the CNI bridge; the password is the
	// Secret's.
	ip := c.Kubectl("get", redis, "-o", "jsonpath={.status.podIP}").Must(t)
	password := c.Kubectl("get", "secret", "real-redlane", "-o", "go-template={{index .data \"redis-password\" | base64decode}}").Must(t)
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("redis-cli", append([]string{"-h", ip, "-p", "6379", "--no-auth-warning"}, args...)...)
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := cli("CONFIG", "GET", "maxmemory"); got != "maxmemory\n50331648" {
		t.Errorf("CONFIG GET maxmemory = %q", got)
	}
	if got := cli("CONFIG", "GET", "maxmemory-policy"); got != "maxmemory-policy\nallkeys-lfu" {
		t.Errorf("CONFIG GET maxmemory-policy = %q", got)
	}
	if got := cli("FLUSHALL"); !strings.Contains(got, "unknown command") {
		t.Errorf("FLUSHALL = %q, want it disabled", got)
	}

	// The Redlane pod: Ready through its real probe once it reaches Redis
	// through the Service (CoreDNS, kube-proxy), and serving at its IP.
	app := "-l app.kubernetes.io/instance=real,app.kubernetes.io/component=app"
	if _, errOut, err := c.kubectlWait(3*time.Minute, append([]string{"wait", "--for=condition=Ready", "pod", "--timeout=180s"}, strings.Fields(app)...)...); err != nil {
		t.Fatalf("Redlane pod not Ready: %v %s\n%s", err, errOut, tail(node.Logs("real-redlane-", "redlane"), 20))
	}
	appIP := c.Kubectl(append([]string{"get", "pod", "-o", "jsonpath={.items[0].status.podIP}"}, strings.Fields(app)...)...).Must(t)
	resp, err := http.Get("http://" + appIP + ":8000/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz at %s: %d", appIP, resp.StatusCode)
	}
	t.Logf("Redlane pod Ready on %s at %s, reaching Redis through its Service", node.Name, appIP)
}
