package image

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	kubelet := k8s.RequireKubelet(t)
	if _, err := p.Out(time.Minute, "image", "exists", pauseImage); err != nil {
		// Creating a pod makes podman build its pause image.
		name := fmt.Sprintf("redlane-pause-%d", os.Getpid())
		p.Must(t, "pod", "create", "--name", name)
		p.Must(t, "pod", "rm", "--force", name)
	}

	n := k8s.StartNode(t, k8s.NodeOptions{Kubelet: kubelet, PauseImage: pauseImage,
		Images: []string{pauseImage, appImage, redisImage}, Subnet: fmt.Sprintf("10.245.%d.0/24", os.Getpid()%200)})
	manifest := filepath.Join(n.ManifestDir(), "redlane.yaml")
	if err := os.WriteFile(manifest, []byte(staticPod), 0o644); err != nil {
		t.Fatal(err)
	}
	var ip string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pod, ok := n.Pod("redlane-node-test")
		if ok && pod.Str("status", "podIP") != "" && k8s.PodReady(pod) {
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
		tasks := strings.TrimSpace(n.Ctr(t, "tasks", "ls", "-q"))
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
