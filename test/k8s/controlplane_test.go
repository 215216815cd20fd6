package k8s

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
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

// ControlPlane is a loopback Kubernetes control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok faking one node, all
// built from the Go module proxy by tools.sh and started on free ports. One
// is shared by the package's tests and stopped by TestMain.
type ControlPlane struct {
	tools      Tools
	dir        string
	Kubeconfig string
	procs      []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

var (
	cpOnce sync.Once
	cp     *ControlPlane
	cpErr  error
)

// requireControlPlane starts the shared control plane on first use.
func requireControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	tools := RequireTools(t)
	cpOnce.Do(func() {
		start := time.Now()
		cp, cpErr = startControlPlane(tools)
		if cpErr == nil {
			// In the log of the test that started it, not on the run's output.
			t.Logf("k8s: control plane ready in %s", time.Since(start).Round(100*time.Millisecond))
		}
	})
	if cpErr != nil {
		t.Fatalf("starting the loopback control plane: %v", cpErr)
	}
	return cp
}

func stopControlPlane() {
	if cp != nil {
		start := time.Now()
		cp.stop()
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "k8s: control plane stopped in %s\n", time.Since(start).Round(100*time.Millisecond))
		}
	}
}

func startControlPlane(tools Tools) (_ *ControlPlane, err error) {
	dir, err := os.MkdirTemp("", "redlane-kube-")
	if err != nil {
		return nil, err
	}
	c := &ControlPlane{tools: tools, dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.logTails())
			c.stop()
		}
	}()
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, apiPort, schedPort := ports[0], ports[1], ports[2], ports[3]
	token := randomHex(16)
	if err := writeServiceAccountKeys(dir); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := c.spawn("etcd", tools.Bin("etcd"),
		"--name", "redlane", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "redlane="+peerURL, "--unsafe-no-fsync", "--log-level", "warn",
	); err != nil {
		return nil, err
	}
	if err := pollHTTP(etcdURL+"/health", "", 60*time.Second, c.procs[0].done); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	if err := c.spawn("kube-apiserver", tools.Bin("kube-apiserver"),
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(apiPort), "--cert-dir", filepath.Join(dir, "certs", "apiserver"),
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "AlwaysAllow", "--endpoint-reconciler-type", "none",
		"--allow-privileged=true", "--profiling=false",
	); err != nil {
		return nil, err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	if err := pollHTTP(server+"/readyz", token, 120*time.Second, c.procs[1].done); err != nil {
		return nil, fmt.Errorf("kube-apiserver: %w", err)
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: redlane-test
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %q}
contexts:
- name: redlane-test
  context: {cluster: redlane-test, user: admin, namespace: default}
current-context: redlane-test
`, server, token)
	if err := os.WriteFile(c.Kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		return nil, err
	}
	if err := c.spawn("kube-controller-manager", tools.Bin("kube-controller-manager"),
		"--kubeconfig", c.Kubeconfig, "--leader-elect=false",
		"--service-account-private-key-file", filepath.Join(dir, "sa.key"),
		"--use-service-account-credentials=false", "--secure-port=0",
	); err != nil {
		return nil, err
	}
	if err := c.spawn("kube-scheduler", tools.Bin("kube-scheduler"),
		"--kubeconfig", c.Kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(schedPort), "--cert-dir", filepath.Join(dir, "certs", "scheduler"),
	); err != nil {
		return nil, err
	}
	stages, err := os.ReadFile(tools.Share("kwok-stages.yaml"))
	if err != nil {
		return nil, err
	}
	extra, err := os.ReadFile(filepath.Join(RepoRoot(), "test", "k8s", "testdata", "kwok-helm-test-stage.yaml"))
	if err != nil {
		return nil, err
	}
	stageFile := filepath.Join(dir, "kwok-stages.yaml")
	if err := os.WriteFile(stageFile, append(append(stages, []byte("\n---\n")...), extra...), 0o644); err != nil {
		return nil, err
	}
	if err := c.spawn("kwok", tools.Bin("kwok"),
		"--kubeconfig", c.Kubeconfig, "--config", stageFile,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
		// Fake pod IPs are never dialled; the node IP is loopback so that
		// nothing (kubectl logs, exec) ever connects off this machine.
		"--cidr", "10.0.0.1/24", "--node-ip", "127.0.0.1", "--node-lease-duration-seconds", "40",
		"--server-address", "127.0.0.1:0",
	); err != nil {
		return nil, err
	}
	// The controller-manager creates the default ServiceAccount (pods need
	// it); kwok makes the node Ready.
	if _, errOut, err := c.kubectlWait(90*time.Second, "get", "serviceaccount", "default", "-n", "default"); err != nil {
		return nil, fmt.Errorf("no default ServiceAccount (controller-manager): %v %s", err, errOut)
	}
	if _, errOut, err := c.Kubectl("apply", "-f", filepath.Join(RepoRoot(), "test", "k8s", "testdata", "node.yaml")).Run(); err != nil {
		return nil, fmt.Errorf("creating the kwok node: %v %s", err, errOut)
	}
	if _, errOut, err := c.kubectlWait(90*time.Second, "wait", "--for=condition=Ready", "node/kwok-node-0", "--timeout=90s"); err != nil {
		return nil, fmt.Errorf("kwok node not Ready: %v %s", err, errOut)
	}
	// Static volumes for the StatefulSets' claims (there is no provisioner).
	var pvs strings.Builder
	for i := 0; i < 24; i++ {
		fmt.Fprintf(&pvs, "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-%02d}\nspec:\n  capacity: {storage: 10Gi}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Delete\n  hostPath: {path: /tmp/kwok-pv-%02d}\n", i, i)
	}
	if _, errOut, err := c.Kubectl("apply", "-f", "-").WithStdin(pvs.String()).Run(); err != nil {
		return nil, fmt.Errorf("creating volumes: %v %s", err, errOut)
	}
	// prometheus-operator's CRDs, so ServiceMonitor and PrometheusRule validate.
	if _, errOut, err := c.Kubectl("apply", "--server-side", "-f", tools.Share("crds")).Run(); err != nil {
		return nil, fmt.Errorf("installing CRDs: %v %s", err, errOut)
	}
	// kubectl wait exits at once ("<nil> is of the type <nil>") when it reads
	// a CRD before the apiserver has written its status: retry it (and the
	// node's wait above, which reads a status kwok has not written yet).
	if _, errOut, err := c.kubectlWait(90*time.Second, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		return nil, fmt.Errorf("CRDs not established: %v %s", err, errOut)
	}
	return c, nil
}

// Kubectl runs the toolset's kubectl against this control plane.
func (c *ControlPlane) Kubectl(args ...string) Cmd {
	return Cmd{Bin: c.tools.Bin("kubectl"), Args: args, Env: []string{"KUBECONFIG=" + c.Kubeconfig}}
}

// Helm runs helm against this control plane.
func (c *ControlPlane) Helm(t testing.TB, args ...string) Cmd {
	cmd := c.tools.Helm(t, args...)
	cmd.Env = append(cmd.Env, "KUBECONFIG="+c.Kubeconfig)
	cmd.Timeout = 5 * time.Minute
	return cmd
}

// WithStdin returns c with stdin set.
func (c Cmd) WithStdin(s string) Cmd {
	c.Stdin = []byte(s)
	return c
}

// kubectlWait retries a kubectl command until it succeeds.
func (c *ControlPlane) kubectlWait(timeout time.Duration, args ...string) (string, string, error) {
	deadline := time.Now().Add(timeout)
	for {
		out, errOut, err := c.Kubectl(args...).Run()
		if err == nil || time.Now().After(deadline) {
			return out, errOut, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// spawn starts one component in its own process group, logging to a file.
func (c *ControlPlane) spawn(name, bin string, args ...string) error {
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	return nil
}

// stop ends the components in reverse order: SIGTERM to each process group,
// SIGKILL after 15 s (kube-apiserver takes a few seconds), then removes the
// directory. Nothing is left running.
func (c *ControlPlane) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // any stragglers in the group
	}
	c.procs = nil
	os.RemoveAll(c.dir)
}

func (c *ControlPlane) logTails() string {
	var b strings.Builder
	for _, p := range c.procs {
		data, _ := os.ReadFile(p.log)
		fmt.Fprintf(&b, "--- %s log:\n%s\n", p.name, tail(string(data), 15))
	}
	return b.String()
}

// pollHTTP polls url (with a bearer token, if any) until it answers 200,
// exited is closed (the process died), or timeout passes.
func pollHTTP(url, token string, timeout time.Duration, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // loopback, self-signed serving cert
	}}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("the process exited (last answer: %s)", last)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			last = resp.Status
		} else {
			last = err.Error()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s (last answer: %s)", url, timeout, last)
}

func writeServiceAccountKeys(dir string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePorts returns n distinct free loopback ports (all held open until
// every one is found, so none repeats).
func freePorts(n int) ([]int, error) {
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
