package k8s

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The images `make image` builds, and podman's local pause image (the
// sandbox image, imported into containerd; the rest is pulled from a
// registry on loopback).
var realNodeImages = []string{
	"localhost/podman-pause:4.3.1-0",
	"localhost/redlane:local",
	"localhost/redlane-redis:7.0.15-debian12",
	"localhost/redlane-wget:1.21.3-debian12",
	"localhost/redlane-postgres:15-debian12",
}

// TestChartOnRealNode is level 3 as far as this machine goes: a control
// plane of its own (kwok's fake node tainted away) with a real node joined
// (kubelet 1.35.4, containerd, runc, CNI bridge, CoreDNS, kube-proxy;
// test/k8s/node.go) that pulls the chart's images from a registry on
// loopback. `helm install` schedules the chart's pods onto it; the Redis
// StatefulSet's pod becomes Ready through its real exec probe with the
// rendered Secret env and ConfigMap files, and redis-cli from the host (over
// the CNI bridge, with the Secret's password) reads the values' memory
// settings back; the Redlane pod reaches Redis through its Service, becomes
// Ready through its real probe and serves /readyz at its pod IP; `helm
// test` passes in a real pod. Then, while a client on the host sends
// requests to the Service's IP without a pause: `helm upgrade` to two pods
// on a shared PostgreSQL, a rolling upgrade, and a pod deleted — not one
// request may fail.
func TestChartOnRealNode(t *testing.T) {
	c, node, pulled, values := realNode(t)

	c.Helm(t, "install", "real", ChartDir(), "-f", LocalImagesValues(), "-f", values).Must(t)
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
	if code, body := readyz(appIP); code != http.StatusOK {
		t.Fatalf("GET /readyz at %s: %d %s", appIP, code, body)
	}
	t.Logf("Redlane pod Ready on %s at %s, reaching Redis through its Service", node.Name, appIP)

	// helm test: the chart's test pod runs on the node and reaches
	// /readyz through the Service.
	if out, errOut, err := c.Helm(t, "test", "real", "--timeout", "3m").Run(); err != nil {
		t.Fatalf("helm test: %v\n%s%s\n%s", err, out, errOut, c.dump("default"))
	}

	// Two pods on a shared users database: the chart's PostgreSQL
	// (Debian's 15, from the registry). The upgrade itself must roll
	// without a failed request from a client outside (maxUnavailable 0,
	// readiness, preStop).
	svc := "http://" + c.Kubectl("get", "svc", "real-redlane", "-o", "jsonpath={.spec.clusterIP}").Must(t) + ":8000"
	load := startLoad(t, svc+"/health")
	upgrade := func(what string, set ...string) {
		t.Helper()
		args := []string{"upgrade", "real", ChartDir(), "-f", LocalImagesValues(), "-f", values, "--wait", "--timeout", "4m",
			"--set", "replicaCount=2", "--set", "postgresql.enabled=true", "--set", "postgresql.persistence.enabled=false",
			"--set", "config.database.seedUsers=null"}
		if out, errOut, err := c.Helm(t, append(args, set...)...).Run(); err != nil {
			t.Fatalf("helm upgrade (%s): %v\n%s%s\n%s", what, err, out, errOut, c.dump("default"))
		}
		c.Kubectl("rollout", "status", "deployment/real-redlane", "--timeout=3m").Must(t)
		load.check(t, what)
	}
	upgrade("to two pods on PostgreSQL")

	// A user created through one pod is read through the Service from
	// either; the cached read is what the client keeps asking for. The
	// pre-upgrade pod must be gone first: it used the embedded database,
	// which will never hold the new user, and through its preStop sleep
	// it still answers on the keep-alive connections the client opened
	// to it (rollout status does not wait for terminating pods). A .ci/run
	// once created the user while that pod drained: 606 reads got its 404.
	waitNoTerminating(t, c, app)
	admin := c.Kubectl("get", "secret", "real-redlane", "-o", "go-template={{index .data \"admin-token\" | base64decode}}").Must(t)
	id := createUser(t, svc, admin)
	load.switchTo(svc + "/users/" + id)
	time.Sleep(2 * time.Second)
	load.check(t, "cached reads of a user")

	upgrade("a rolling upgrade under load", "--set-string", "podAnnotations.redlane\\.dev/rollout=2")

	// A pod deleted under load: its replacement comes up, the other pod
	// (the PDB keeps one) answers meanwhile.
	live := `go-template={{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}} {{end}}{{end}}`
	pods := strings.Fields(c.Kubectl(append([]string{"get", "pod", "-o", live}, strings.Fields(app)...)...).Must(t))
	if len(pods) != 2 {
		t.Fatalf("want 2 Redlane pods, have %v", pods)
	}
	c.Kubectl("delete", "pod", pods[0], "--wait=true", "--timeout=2m").Must(t)
	if _, errOut, err := c.kubectlWait(3*time.Minute, "rollout", "status", "deployment/real-redlane", "--timeout=3m"); err != nil {
		t.Fatalf("replacement of %s: %v %s", pods[0], err, errOut)
	}
	load.check(t, "a pod deleted under load")
	t.Logf("requests from outside during the upgrades and the deletion: %d, none failed", load.total())

	applyDevOverlay(t, c, node, pulled)
}

// TestChartClusterModeOnRealNode: `helm install --wait --wait-for-jobs`
// of the chart in its Redis Cluster mode on the real node.
func TestChartClusterModeOnRealNode(t *testing.T) {
	c, node, _, values := realNode(t)
	clusterModeOnNode(t, c, node, values)
}

// clusterModeOnNode installs the chart in its Redis Cluster mode
// (charts/redlane/ci/cluster-values.yaml: six Redis pods and the Job that
// forms the cluster) with `helm install --wait --wait-for-jobs`: every pod
// Ready through its probes, the cluster formed (cluster_state:ok, six
// nodes known), and the Redlane pod serving /readyz through its Service.
func clusterModeOnNode(t *testing.T, c *ControlPlane, node *Node, values string) {
	t.Helper()
	const ns = "clus"
	c.Kubectl("create", "namespace", ns).Must(t)
	if out, errOut, err := c.Helm(t, "install", "clus", ChartDir(), "-n", ns, "-f", LocalImagesValues(), "-f", values,
		"-f", filepath.Join(ChartDir(), "ci", "cluster-values.yaml"), "--wait", "--wait-for-jobs", "--timeout", "4m").Run(); err != nil {
		ready := ""
		if ip, _, err := c.Kubectl("get", "pod", "-n", ns, "-l", "app.kubernetes.io/component=app", "-o", "jsonpath={.items[0].status.podIP}").Run(); err == nil {
			code, body := readyz(strings.TrimSpace(ip))
			ready = fmt.Sprintf("%d %s", code, body)
		}
		t.Fatalf("helm install --wait (cluster mode): %v\n%s%s\nthe app's /readyz: %s\n%s\n%s", err, out, errOut, ready, c.dump(ns), tail(node.Logs("clus-redlane-", "redlane"), 20))
	}
	t.Cleanup(func() { _, _, _ = c.Helm(t, "uninstall", "clus", "-n", ns, "--wait", "--timeout", "60s").Run() })
	notReady := c.Kubectl("get", "pod", "-n", ns, "-o",
		`go-template={{range .items}}{{if ne .status.phase "Succeeded"}}{{range .status.conditions}}{{if and (eq .type "Ready") (ne .status "True")}}{{$.metadata.name}} {{end}}{{end}}{{end}}{{end}}`).Must(t)
	if strings.TrimSpace(notReady) != "" {
		t.Fatalf("cluster mode: pods not Ready after helm install --wait: %s\n%s", notReady, c.dump(ns))
	}
	ip := c.Kubectl("get", "pod", "clus-redlane-redis-0", "-n", ns, "-o", "jsonpath={.status.podIP}").Must(t)
	password := c.Kubectl("get", "secret", "clus-redlane", "-n", ns, "-o", "go-template={{index .data \"redis-password\" | base64decode}}").Must(t)
	cmd := exec.Command("redis-cli", "-h", ip, "-p", "6379", "--no-auth-warning", "CLUSTER", "INFO")
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
	info, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(info), "cluster_state:ok") || !strings.Contains(string(info), "cluster_known_nodes:6") {
		t.Fatalf("CLUSTER INFO at %s: %v\n%s", ip, err, info)
	}
	svc := c.Kubectl("get", "svc", "clus-redlane", "-n", ns, "-o", "jsonpath={.spec.clusterIP}").Must(t)
	if code, body := readyz(svc); code != http.StatusOK {
		t.Fatalf("cluster mode: GET /readyz through the Service: %d %s", code, body)
	}
	t.Logf("cluster mode: helm install --wait with six Redis pods and the cluster Job on %s; cluster_state:ok, /readyz 200", node.Name)
}

// applyDevOverlay runs `kubectl apply -k k8s/overlays/dev` on the node,
// through a kustomization of the test's that only points the overlay's
// images at the registry (Redis and PostgreSQL under their Debian
// versions); the two volume claims bind to hostPath volumes made for them
// (there is no provisioner). Every pod must turn Ready through its probes,
// and the app serve /readyz through its Service.
func applyDevOverlay(t *testing.T, c *ControlPlane, node *Node, pulled map[string]string) {
	t.Helper()
	dir := t.TempDir()
	app, appTag := splitRef(pulled["localhost/redlane:local"])
	redis, redisTag := splitRef(pulled["localhost/redlane-redis:7.0.15-debian12"])
	pg, pgTag := splitRef(pulled["localhost/redlane-postgres:15-debian12"])
	// kustomize takes a base outside the kustomization's directory only by
	// a relative path.
	overlay, err := filepath.Rel(dir, filepath.Join(RepoRoot(), "k8s", "overlays", "dev"))
	if err != nil {
		t.Fatal(err)
	}
	kust := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [%q]
images:
  - {name: redlane, newName: %q, newTag: %q}
  - {name: docker.io/library/redis, newName: %q, newTag: %q}
  - {name: docker.io/library/postgres, newName: %q, newTag: %q}
`, overlay, app, appTag, redis, redisTag, pg, pgTag)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	var pvs strings.Builder
	for _, claim := range []string{"data-redlane-redis-0", "data-redlane-postgresql-0"} {
		path := filepath.Join(dir, claim)
		if err := os.Mkdir(path, 0o777); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(path, 0o777) // past the umask: the pods run as 10001 and 10002
		fmt.Fprintf(&pvs, `---
apiVersion: v1
kind: PersistentVolume
metadata: {name: dev-%[1]s}
spec:
  capacity: {storage: 8Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: %[2]q, type: Directory}
  claimRef: {namespace: redlane-dev, name: %[1]s}
`, claim, path)
	}
	c.Kubectl("apply", "-f", "-").WithStdin(pvs.String()).Must(t)
	defer func() {
		if t.Failed() {
			t.Log(c.dump("redlane-dev"))
			t.Log(tail(node.Logs("redlane-", "redlane"), 20))
		}
	}()
	c.Kubectl("apply", "--validate=strict", "-k", dir).Must(t)
	for _, w := range []string{"statefulset/redlane-redis", "statefulset/redlane-postgresql", "deployment/redlane"} {
		if _, errOut, err := c.kubectlWait(4*time.Minute, "rollout", "status", w, "-n", "redlane-dev", "--timeout=3m"); err != nil {
			t.Fatalf("kubectl apply -k k8s/overlays/dev: %s not rolled out: %v %s", w, err, errOut)
		}
	}
	// kube-proxy programs the Service's rule a moment after the pod turns
	// Ready (until then its iptables rule for a Service without endpoints
	// rejects: "connection refused"; one CI run asked within that moment).
	ip := c.Kubectl("get", "svc", "redlane", "-n", "redlane-dev", "-o", "jsonpath={.spec.clusterIP}").Must(t)
	code, body := readyz(ip)
	for deadline := time.Now().Add(30 * time.Second); code != http.StatusOK && time.Now().Before(deadline); code, body = readyz(ip) {
		time.Sleep(500 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("dev overlay: GET /readyz through its Service: %d %s", code, body)
	}
	t.Logf("kubectl apply -k k8s/overlays/dev: Redis, PostgreSQL and Redlane Ready on %s, /readyz 200 through the Service", node.Name)
	c.Kubectl("delete", "-k", dir, "--wait=false").Must(t)
}

// realNode starts a control plane with a real node joined that pulls from
// a registry on loopback holding the images `make image` built; values is a
// values file pointing the chart at them (pulled maps each podman image to
// its registry reference).
func realNode(t *testing.T) (c *ControlPlane, node *Node, pulled map[string]string, values string) {
	t.Helper()
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
	// Every image but the sandbox's is pulled by containerd from a
	// registry on loopback, as a cluster pulls from its registry.
	reg := StartRegistry(t)
	pulled = map[string]string{}
	for _, img := range realNodeImages[1:] {
		pulled[img] = reg.Push(t, img)
	}
	values = registryValues(t, pulled)
	node = StartNode(t, NodeOptions{Kubelet: kubelet, Kubeconfig: c.Kubeconfig, Images: realNodeImages[:1],
		PauseImage: realNodeImages[0], Registry: reg.Addr, Subnet: fmt.Sprintf("10.246.%d.0/24", os.Getpid()%200), ClusterDNS: true})
	node.StartClusterServices(t, filepath.Join(bin, "coredns"), filepath.Join(bin, "kube-proxy"), c.Kubeconfig, "redlane-test")
	if _, errOut, err := c.kubectlWait(2*time.Minute, "wait", "--for=condition=Ready", "node/"+node.Name, "--timeout=120s"); err != nil {
		t.Fatalf("node not Ready: %v %s", err, errOut)
	}

	return c, node, pulled, values
}

// splitRef splits an image reference host:port/name:tag into its
// repository and tag.
func splitRef(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	return ref[:i], ref[i+1:]
}

// readyz asks Redlane at host (a pod or Service IP, port 8000) for
// /readyz: the status and body, or 0 and the error when nothing answered.
func readyz(host string) (int, string) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + host + ":8000/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// registryValues writes a values file that takes the chart's images from
// the registry (pulled: podman name -> registry reference), pulled on
// every start (pullPolicy Always), and returns its path.
func registryValues(t *testing.T, pulled map[string]string) string {
	t.Helper()
	image := func(local string) string {
		repo, tag := splitRef(pulled[local])
		return fmt.Sprintf("{repository: %q, tag: %q, pullPolicy: Always}", repo, tag)
	}
	doc := fmt.Sprintf("image: %s\nredis:\n  image: %s\ntests:\n  image: %s\npostgresql:\n  image: %s\n",
		image("localhost/redlane:local"), image("localhost/redlane-redis:7.0.15-debian12"),
		image("localhost/redlane-wget:1.21.3-debian12"), image("localhost/redlane-postgres:15-debian12"))
	path := filepath.Join(t.TempDir(), "registry-values.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// load is a client outside the cluster: four goroutines sending GET url
// back to back through kept-alive connections, counting every request
// that fails (a transport error or a status other than 200).
type load struct {
	url     atomic.Pointer[string]
	stop    chan struct{}
	wg      sync.WaitGroup
	n, bad  atomic.Int64
	mu      sync.Mutex
	samples []string
}

func startLoad(t *testing.T, url string) *load {
	l := &load{stop: make(chan struct{})}
	l.url.Store(&url)
	client := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				u := *l.url.Load()
				resp, err := client.Get(u)
				why := ""
				if err != nil {
					why = err.Error()
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						why = fmt.Sprintf("GET %s: %d", u, resp.StatusCode)
					}
				}
				l.n.Add(1)
				if why != "" {
					l.bad.Add(1)
					l.mu.Lock()
					if len(l.samples) < 5 {
						l.samples = append(l.samples, time.Now().Format("15:04:05.000 ")+why)
					}
					l.mu.Unlock()
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(func() { close(l.stop); l.wg.Wait() })
	return l
}

func (l *load) switchTo(url string) { l.url.Store(&url) }

func (l *load) total() int64 { return l.n.Load() }

// check fails the test if any request failed so far.
func (l *load) check(t *testing.T, during string) {
	t.Helper()
	if bad := l.bad.Load(); bad > 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Fatalf("during %s: %d of %d requests failed, e.g.\n%s", during, bad, l.n.Load(), strings.Join(l.samples, "\n"))
	}
	t.Logf("after %s: %d requests, none failed", during, l.n.Load())
}

// waitNoTerminating waits until no pod matching selector (kubectl -l
// flags) is terminating.
func waitNoTerminating(t *testing.T, c *ControlPlane, selector string) {
	t.Helper()
	terminating := `go-template={{range .items}}{{if .metadata.deletionTimestamp}}{{.metadata.name}} {{end}}{{end}}`
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := strings.Fields(c.Kubectl(append([]string{"get", "pod", "-o", terminating}, strings.Fields(selector)...)...).Must(t))
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods still terminating after 2 minutes: %v\n%s", left, c.dump("default"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// createUser creates a user through the Service with the admin token and
// returns its id.
func createUser(t *testing.T, base, adminToken string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/users", strings.NewReader(`{"username":"realnode","email":"realnode@example.com","password":"a long password"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u struct {
		ID json.Number `json:"id"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &u) != nil || u.ID == "" {
		t.Fatalf("POST /users: %d %s", resp.StatusCode, body)
	}
	return u.ID.String()
}
