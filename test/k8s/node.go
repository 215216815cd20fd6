package k8s

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NodeOptions configure a real node: containerd, runc, a CNI bridge and the
// kubelet that kubelet.sh builds.
type NodeOptions struct {
	Kubelet string
	// Kubeconfig joins the kubelet to a control plane; without it the
	// kubelet runs standalone and only runs static pods.
	Kubeconfig string
	// Images are podman images imported into containerd (podman save |
	// ctr images import): no registry is reachable here.
	Images []string
	// PauseImage is containerd's sandbox image (one of Images).
	PauseImage string
	// Subnet is the pod network, e.g. 10.245.7.0/24; its first address is
	// the bridge's, the host's side.
	Subnet string
	// ClusterDNS points the pods' resolv.conf at the bridge's address,
	// where StartClusterServices runs CoreDNS.
	ClusterDNS bool
	// Registry, a host:port on loopback (StartRegistry), is one containerd
	// pulls from over plain HTTP.
	Registry string
}

// Node is a containerd and a kubelet under one temporary root, stopped and
// removed (containers, mounts, network namespaces, bridge) when the test
// ends.
type Node struct {
	Name        string
	KubeletPort int
	t           *testing.T
	root        string
	bridge      string
	netnsBefore []string
	containerd  *exec.Cmd
	kubelet     *exec.Cmd
	services    []*exec.Cmd // CoreDNS, kube-proxy
	kubeProxy   string      // its binary, for --cleanup
	// Gateway is the bridge's address on the pod network.
	Gateway string
}

// LocalImagesValues is the values file for running the chart from the images
// `make image` builds.
func LocalImagesValues() string {
	return filepath.Join(RepoRoot(), "test", "k8s", "testdata", "local-images-values.yaml")
}

// RequireKubelet returns the kubelet kubelet.sh built, when it and
// containerd are installed. Otherwise the test is skipped locally and fails
// under CI=true (.ci/run installs containerd and runs kubelet.sh).
func RequireKubelet(t testing.TB) string {
	t.Helper()
	missing := func(msg string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; .ci/run installs containerd and runs test/k8s/kubelet.sh", msg)
		}
		t.Skipf("%s (apt-get install containerd; test/k8s/kubelet.sh)", msg)
	}
	for _, bin := range []string{"containerd", "ctr", "ip", "podman"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing(bin + " is not installed")
		}
	}
	out, err := exec.Command("bash", filepath.Join(RepoRoot(), "test", "k8s", "kubelet.sh"), "--dir").Output()
	if err != nil {
		t.Fatalf("kubelet.sh --dir: %v", err)
	}
	kubelet := filepath.Join(strings.TrimSpace(string(out)), "bin", "kubelet")
	if _, err := os.Stat(kubelet); err != nil {
		missing("no kubelet at " + kubelet)
	}
	return kubelet
}

// StartNode starts containerd, imports the images and starts the kubelet.
func StartNode(t *testing.T, opt NodeOptions) *Node {
	t.Helper()
	// Short paths: unix socket names are limited to 108 bytes.
	root, err := os.MkdirTemp("", "rl-node-")
	if err != nil {
		t.Fatal(err)
	}
	// The node is named localhost: the API server reaches a kubelet at the
	// node's Hostname address first, and localhost is the one name that
	// resolves to loopback here, where the kubelet listens (its InternalIP
	// cannot be loopback). So kubectl exec, logs and port-forward — Tilt's
	// live update and port forwards — work without exposing the kubelet.
	n := &Node{t: t, root: root, Name: "localhost",
		bridge: fmt.Sprintf("rlnode%d", os.Getpid()%100000), netnsBefore: netns()}
	t.Cleanup(n.cleanup)
	n.startContainerd(t, opt.PauseImage, opt.Registry)
	for _, img := range opt.Images {
		archive := filepath.Join(root, "image.tar")
		if out, err := exec.Command("podman", "save", "--format", "oci-archive", "-o", archive, img).CombinedOutput(); err != nil {
			t.Fatalf("podman save %s: %v\n%s", img, err, out)
		}
		n.Ctr(t, "images", "import", "--base-name", strings.Split(img, ":")[0], archive)
		os.Remove(archive)
	}
	n.startKubelet(t, opt)
	return n
}

// ManifestDir is the kubelet's static pod directory.
func (n *Node) ManifestDir() string { return filepath.Join(n.root, "manifests") }

func (n *Node) sock() string { return filepath.Join(n.root, "containerd.sock") }

// Ctr runs ctr against the node's containerd, in the kubelet's namespace.
func (n *Node) Ctr(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ctr", append([]string{"--address", n.sock(), "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (n *Node) startContainerd(t *testing.T, pause, registry string) {
	t.Helper()
	cni := filepath.Join(n.root, "cni")
	if err := os.MkdirAll(cni, 0o755); err != nil {
		t.Fatal(err)
	}
	// Registry hosts (containerd's hosts.toml): a loopback registry is
	// spoken to over plain HTTP.
	hosts := filepath.Join(n.root, "certs.d")
	if registry != "" {
		dir := filepath.Join(hosts, registry)
		toml := fmt.Sprintf("server = \"http://%[1]s\"\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", registry)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
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
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "%[5]s"
`, n.root, n.sock(), pause, cni, hosts)
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

func (n *Node) startKubelet(t *testing.T, opt NodeOptions) {
	t.Helper()
	// The pod network: a bridge of its own, addresses kept under the root,
	// the host as the default route (Service IPs), no masquerading (the host
	// reaches the pods directly).
	conflist := fmt.Sprintf(`{"cniVersion":"0.4.0","name":"%[1]s","plugins":[
{"type":"bridge","bridge":"%[1]s","isGateway":true,"ipam":{"type":"host-local","dataDir":"%[2]s/cni-ipam","ranges":[[{"subnet":"%[3]s"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
{"type":"loopback"}]}`, n.bridge, n.root, opt.Subnet)
	if err := os.WriteFile(filepath.Join(n.root, "cni", "10-node.conflist"), []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(n.ManifestDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	// The bridge exists before the first pod, so that CoreDNS can listen on
	// its address; the CNI plugin adopts it.
	n.Gateway = strings.TrimSuffix(opt.Subnet, ".0/24") + ".1"
	for _, args := range [][]string{
		{"link", "add", "name", n.bridge, "type", "bridge"},
		{"addr", "add", n.Gateway + "/24", "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	dns := ""
	if opt.ClusterDNS {
		dns = fmt.Sprintf("clusterDNS: [%s]\nclusterDomain: cluster.local\n", n.Gateway)
	}
	ports := []int{FreePort(t), FreePort(t)}
	n.KubeletPort = ports[0]
	// failCgroupV1 false and cgroupfs: this host is cgroup v1 without
	// systemd. No node allocatable or QoS cgroups, no eviction, no image
	// garbage collection: the kubelet shares the machine.
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
staticPodPath: %[4]s
podLogsDir: %[5]s/pod-logs
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
enforceNodeAllocatable: []
cgroupsPerQOS: false
resolvConf: ""
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
fileCheckFrequency: 1s
%[6]s`, n.sock(), ports[0], ports[1], n.ManifestDir(), n.root, dns)
	confFile := filepath.Join(n.root, "kubelet.yaml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", confFile, "--root-dir", filepath.Join(n.root, "kubelet"),
		"--hostname-override", n.Name, "--v", "1"}
	if opt.Kubeconfig != "" {
		// The kubelet listens on loopback only and refuses loopback as its
		// node IP ("nodeIP can't be loopback address"); the API server
		// reaches it by its name, localhost (StartNode).
		args = append(args, "--kubeconfig", opt.Kubeconfig)
	}
	n.kubelet = n.start(t, "kubelet", opt.Kubelet, args...)
}

// start runs a daemon with its output in <root>/<name>.log.
func (n *Node) start(t *testing.T, name, bin string, args ...string) *exec.Cmd {
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

func (n *Node) log(name string) string {
	b, _ := os.ReadFile(filepath.Join(n.root, name+".log"))
	return tail(string(b), 40)
}

// Pod returns the kubelet's view of a pod (spec and status) from its API.
func (n *Node) Pod(name string) (Object, bool) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// The kubelet's self-signed serving certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/pods", n.KubeletPort))
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var list struct{ Items []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, false
	}
	for _, item := range list.Items {
		if o := Object(item); strings.HasPrefix(o.Name(), name) {
			return o, true
		}
	}
	return nil, false
}

// StartClusterServices gives the node's pods what a cluster adds to a
// node: CoreDNS (serving the cluster.local zone from the API server,
// listening on the bridge's address, port 53, the only port resolv.conf
// knows) and kube-proxy (Service IPs, iptables mode; every Service
// connection masqueraded, so that pods on the one bridge reach each other
// through a Service IP). kube-proxy's rules are removed afterwards
// (kube-proxy --cleanup).
func (n *Node) StartClusterServices(t *testing.T, coredns, kubeProxy, kubeconfig, kubeContext string) {
	t.Helper()
	corefile := filepath.Join(n.root, "Corefile")
	conf := fmt.Sprintf(".:53 {\n  bind %s\n  errors\n  kubernetes cluster.local {\n    kubeconfig %s %s\n  }\n}\n", n.Gateway, kubeconfig, kubeContext)
	if err := os.WriteFile(corefile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.services = append(n.services, n.start(t, "coredns", coredns, "-conf", corefile))
	n.kubeProxy = kubeProxy
	n.services = append(n.services, n.start(t, "kube-proxy", kubeProxy,
		"--kubeconfig", kubeconfig, "--hostname-override", n.Name, "--proxy-mode", "iptables",
		"--masquerade-all", "--cluster-cidr", strings.TrimSuffix(n.Gateway, ".1")+".0/24",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		"--healthz-bind-address", fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		// No node ports, and no route_localnet=1 on the host for them.
		"--conntrack-max-per-core", "0", "--nodeport-addresses", "127.0.0.1/32", "--iptables-localhost-nodeports=false"))
}

// Logs returns the logs of a container of the pods whose names start with
// pod, as the kubelet wrote them.
func (n *Node) Logs(pod, container string) string {
	files, _ := filepath.Glob(filepath.Join(n.root, "pod-logs", "*_"+pod+"*", container, "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// PodReady says whether a pod's Ready condition is True.
func PodReady(pod Object) bool {
	for _, c := range pod.List("status", "conditions") {
		co := Object(c.(map[string]any))
		if co.Str("type") == "Ready" && co.Str("status") == "True" {
			return true
		}
	}
	return false
}

// FreePort is a TCP port free on 127.0.0.1 just now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// netns lists the network namespaces in /run/netns.
func netns() []string {
	entries, _ := os.ReadDir("/run/netns")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// cleanup stops the kubelet, every container left, containerd, and removes
// the mounts, the network namespaces containerd made, the bridge and the
// root.
func (n *Node) cleanup() {
	t := n.t
	if t.Failed() {
		for _, name := range []string{"kubelet", "containerd", "coredns", "kube-proxy"} {
			t.Logf("%s log:\n%s", name, n.log(name))
		}
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
	for _, svc := range n.services {
		stop(svc)
	}
	if n.kubeProxy != "" {
		if out, err := exec.Command(n.kubeProxy, "--cleanup").CombinedOutput(); err != nil {
			t.Errorf("kube-proxy --cleanup: %v\n%s", err, tail(string(out), 20))
		}
	}
	stop(n.kubelet)
	// The kubelet's own iptables chains (KUBE-FIREWALL drops non-local
	// traffic to 127.0.0.0/8; the canaries detect flushes).
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, args := range [][]string{
			{"-D", "INPUT", "-j", "KUBE-FIREWALL"}, {"-D", "OUTPUT", "-j", "KUBE-FIREWALL"},
			{"-F", "KUBE-FIREWALL"}, {"-X", "KUBE-FIREWALL"},
			{"-X", "KUBE-KUBELET-CANARY"}, {"-t", "nat", "-X", "KUBE-KUBELET-CANARY"},
			{"-t", "mangle", "-X", "KUBE-KUBELET-CANARY"}, {"-t", "mangle", "-X", "KUBE-IPTABLES-HINT"},
		} {
			_ = exec.Command(ipt, args...).Run() // absent chains are fine
		}
	}
	if n.containerd != nil {
		ctr := func(args ...string) string {
			out, _ := exec.Command("ctr", append([]string{"--address", n.sock(), "--namespace", "k8s.io"}, args...)...).Output()
			return string(out)
		}
		// A forced delete kills the task, and so ends its shim.
		for _, id := range strings.Fields(ctr("tasks", "ls", "-q")) {
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
	// Sandboxes the kubelet had no time to remove leave their network
	// namespaces (cni-<uuid>, containerd's naming).
	for _, ns := range netns() {
		if strings.HasPrefix(ns, "cni-") && !slices.Contains(n.netnsBefore, ns) {
			if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
				t.Errorf("deleting network namespace %s: %v %s", ns, err, out)
			}
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
