package image

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/test/k8s"
)

// Pod is one rendered pod running in podman: a podman pod (its own network
// namespace, as a Kubernetes pod has) with one container per rendered
// container, named <pod>-<container>.
type Pod struct {
	Name     string
	Spec     k8s.Object // the rendered pod spec
	IP       string     // on podman's bridge
	Ports    map[string]int
	p        *Podman
	volumes  map[string]string // volume name -> host directory
	objs     []k8s.Object
	env      map[string][]string // container -> resolved NAME=VALUE
	dataDirs map[string]string   // ConfigMap volume -> its ..data target dir
}

// PodOptions are what the kubelet and the cluster would provide.
type PodOptions struct {
	// Hosts maps names (Services) to addresses: the cluster's DNS.
	Hosts map[string]string
	// Publish lists the rendered container ports (by name) to publish on
	// 127.0.0.1 at free ports; Pod.Ports has them.
	Publish []string
}

// StartPod starts the pod template of workload (a Deployment or
// StatefulSet among objs) as the pod name, and removes it when the test ends.
// Fields this emulation does not implement fail the test instead of being
// ignored.
func StartPod(t *testing.T, p *Podman, objs []k8s.Object, workload k8s.Object, name string, opt PodOptions) *Pod {
	t.Helper()
	spec := workload.PodSpec()
	pod := &Pod{Name: name, Spec: spec, Ports: map[string]int{}, p: p, volumes: map[string]string{},
		objs: objs, env: map[string][]string{}, dataDirs: map[string]string{}}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	fsGroup := intField(spec, "securityContext", "fsGroup")

	// Volumes: ConfigMaps in the kubelet's layout; emptyDir and claims as
	// directories owned as the kubelet leaves them with fsGroup.
	claims := map[string]bool{}
	for _, c := range workload.List("spec", "volumeClaimTemplates") {
		claims[k8s.Object(c.(map[string]any)).Name()] = true
	}
	for _, v := range spec.List("volumes") {
		vol := k8s.Object(v.(map[string]any))
		dir := filepath.Join(root, vol.Str("name"))
		switch {
		case vol.Map("configMap") != nil:
			cm := one(t, objs, "ConfigMap", vol.Str("configMap", "name"))
			pod.writeConfigMap(t, vol.Str("name"), dir, cm.Map("data"), fsGroup)
		case vol.Map("emptyDir") != nil:
			mkdirOwned(t, dir, fsGroup)
		default:
			t.Fatalf("pod %s: volume %v is not emulated", name, vol)
		}
		pod.volumes[vol.Str("name")] = dir
	}
	for c := range claims {
		if _, ok := pod.volumes[c]; !ok {
			dir := filepath.Join(root, c)
			mkdirOwned(t, dir, fsGroup)
			pod.volumes[c] = dir
		}
	}

	create := []string{"pod", "create", "--name", name, "--hostname", name}
	for _, h := range slices.Sorted(maps.Keys(opt.Hosts)) {
		create = append(create, "--add-host", h+":"+opt.Hosts[h])
	}
	for _, portName := range opt.Publish {
		cp := containerPort(t, spec, portName)
		hp := k8s.FreePort(t)
		pod.Ports[portName] = hp
		create = append(create, "-p", fmt.Sprintf("127.0.0.1:%d:%d", hp, cp))
	}
	p.Must(t, create...)
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range spec.List("containers") {
				cn := name + "-" + k8s.Object(c.(map[string]any)).Str("name")
				logs, _ := p.Out(30*time.Second, "logs", "--tail", "40", cn)
				t.Logf("logs of %s:\n%s", cn, logs)
			}
		}
		if _, err := p.Out(2*time.Minute, "pod", "rm", "--force", "--time", "0", name); err != nil {
			t.Errorf("removing pod %s: %v", name, err)
		}
	})
	for _, c := range spec.List("containers") {
		pod.run(t, k8s.Object(c.(map[string]any)))
	}
	ip := p.Must(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name+"-"+k8s.Object(spec.List("containers")[0].(map[string]any)).Str("name"))
	if ip == "" {
		// Containers in a pod report the infra container's network.
		infra := p.Must(t, "pod", "inspect", "--format", "{{.InfraContainerID}}", name)
		ip = p.Must(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", infra)
	}
	pod.IP = ip
	return pod
}

// run starts one rendered container in the pod.
func (pod *Pod) run(t *testing.T, c k8s.Object) {
	t.Helper()
	cname := pod.Name + "-" + c.Str("name")
	args := []string{"run", "--detach", "--pod", pod.Name, "--name", cname, "--pull", "never"}

	// Security context: the container's fields override the pod's.
	sc := func(key string) any {
		if v := c.Get("securityContext", key); v != nil {
			return v
		}
		return pod.Spec.Get("securityContext", key)
	}
	uid, gid := toInt(sc("runAsUser")), toInt(sc("runAsGroup"))
	if uid < 0 {
		t.Fatalf("container %s: no runAsUser rendered", cname)
	}
	if sc("runAsNonRoot") == true && uid == 0 {
		t.Fatalf("container %s: runAsNonRoot with uid 0", cname)
	}
	if gid < 0 {
		gid = uid
	}
	args = append(args, "--user", fmt.Sprintf("%d:%d", uid, gid))
	if fg := intField(pod.Spec, "securityContext", "fsGroup"); fg >= 0 {
		args = append(args, "--group-add", strconv.Itoa(fg))
	}
	if c.Get("securityContext", "readOnlyRootFilesystem") == true {
		// No tmpfs on /tmp either: Kubernetes adds none.
		args = append(args, "--read-only", "--read-only-tmpfs=false")
	}
	for _, d := range c.List("securityContext", "capabilities", "drop") {
		args = append(args, "--cap-drop", strings.ToLower(d.(string)))
	}
	for _, a := range c.List("securityContext", "capabilities", "add") {
		args = append(args, "--cap-add", strings.ToLower(a.(string)))
	}
	if c.Get("securityContext", "allowPrivilegeEscalation") == false {
		args = append(args, "--security-opt", "no-new-privileges")
	}
	// seccompProfile RuntimeDefault is podman's default profile.
	if mem := c.Str("resources", "limits", "memory"); mem != "" {
		args = append(args, "--memory", quantityBytes(t, mem))
	}

	// Env, with $(VAR) references expanded as the kubelet does.
	var env []string
	vals := map[string]string{}
	for _, e := range c.List("env") {
		ev := k8s.Object(e.(map[string]any))
		val := pod.envValue(t, cname, ev)
		val = regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllStringFunc(val, func(ref string) string {
			if v, ok := vals[ref[2:len(ref)-1]]; ok {
				return v
			}
			return ref
		})
		vals[ev.Str("name")] = val
		env = append(env, ev.Str("name")+"="+val)
		args = append(args, "--env", ev.Str("name")+"="+val)
	}
	if c.Get("envFrom") != nil {
		t.Fatalf("container %s: envFrom is not emulated", cname)
	}
	pod.env[c.Str("name")] = env

	for _, m := range c.List("volumeMounts") {
		vm := k8s.Object(m.(map[string]any))
		src, ok := pod.volumes[vm.Str("name")]
		if !ok {
			t.Fatalf("container %s: mount of unknown volume %s", cname, vm.Str("name"))
		}
		if sub := vm.Str("subPath"); sub != "" {
			// The kubelet bind-mounts the file the path resolves to now, so
			// a subPath mount never sees later ConfigMap changes.
			resolved, err := filepath.EvalSymlinks(filepath.Join(src, sub))
			if err != nil {
				t.Fatal(err)
			}
			src = resolved
		}
		opt := fmt.Sprintf("type=bind,src=%s,dst=%s", src, vm.Str("mountPath"))
		if vm.Get("readOnly") == true {
			opt += ",ro=true"
		}
		args = append(args, "--mount", opt)
	}
	if wd := c.Str("workingDir"); wd != "" {
		args = append(args, "--workdir", wd)
	}
	if cmd := c.List("command"); cmd != nil {
		b, _ := json.Marshal(cmd)
		args = append(args, "--entrypoint", string(b))
	}
	args = append(args, c.Str("image"))
	for _, a := range c.List("args") {
		args = append(args, a.(string))
	}
	pod.p.Must(t, args...)
}

// Env is the environment the container was started with (NAME=VALUE).
func (pod *Pod) Env(container string) []string { return pod.env[container] }

func (pod *Pod) envValue(t *testing.T, cname string, ev k8s.Object) string {
	t.Helper()
	if v, ok := ev["value"]; ok {
		return fmt.Sprint(v)
	}
	from := k8s.Object(ev.Map("valueFrom"))
	switch {
	case from.Map("secretKeyRef") != nil:
		s := one(t, pod.objs, "Secret", from.Str("secretKeyRef", "name"))
		key := from.Str("secretKeyRef", "key")
		if v, ok := s.Map("stringData")[key]; ok {
			return fmt.Sprint(v)
		}
		t.Fatalf("container %s: Secret %s has no stringData key %s", cname, s.Name(), key)
	case from.Map("configMapKeyRef") != nil:
		cm := one(t, pod.objs, "ConfigMap", from.Str("configMapKeyRef", "name"))
		return fmt.Sprint(cm.Map("data")[from.Str("configMapKeyRef", "key")])
	case from.Str("fieldRef", "fieldPath") == "metadata.name":
		return pod.Name
	case from.Str("fieldRef", "fieldPath") == "metadata.namespace":
		return "default"
	}
	t.Fatalf("container %s: env %v is not emulated", cname, ev)
	return ""
}

// writeConfigMap writes data the way the kubelet's atomic writer does:
// files in a timestamped directory, ..data pointing at it, and one symlink
// per key through ..data.
func (pod *Pod) writeConfigMap(t *testing.T, volume, dir string, data map[string]any, fsGroup int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pod.UpdateConfigMap(t, volume, dir, data, fsGroup)
	for key := range data {
		if err := os.Symlink(filepath.Join("..data", key), filepath.Join(dir, key)); err != nil {
			t.Fatal(err)
		}
	}
}

// UpdateConfigMap swaps in new contents for a ConfigMap volume as the
// kubelet does on a change: a new timestamped directory, then one atomic
// rename of the ..data symlink.
func (pod *Pod) UpdateConfigMap(t *testing.T, volume, dir string, data map[string]any, fsGroup int) {
	t.Helper()
	ts := filepath.Join(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.000000000"))
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for key, v := range data {
		f := filepath.Join(ts, key)
		if err := os.WriteFile(f, []byte(fmt.Sprint(v)), 0o644); err != nil {
			t.Fatal(err)
		}
		if fsGroup >= 0 {
			if err := os.Chown(f, 0, fsGroup); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if old := pod.dataDirs[volume]; old != "" {
		os.RemoveAll(old)
	}
	pod.dataDirs[volume] = ts
}

// Volume is the host directory behind a pod volume.
func (pod *Pod) Volume(name string) string { return pod.volumes[name] }

func mkdirOwned(t *testing.T, dir string, fsGroup int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o777)
	if fsGroup >= 0 {
		// What the kubelet leaves with fsGroup: the group's, setgid, g+rwx.
		if err := os.Chown(dir, 0, fsGroup); err != nil {
			t.Fatal(err)
		}
		mode = 0o775 | os.ModeSetgid
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func containerPort(t *testing.T, spec k8s.Object, name string) int {
	t.Helper()
	for _, c := range spec.List("containers") {
		for _, p := range k8s.Object(c.(map[string]any)).List("ports") {
			po := k8s.Object(p.(map[string]any))
			if po.Str("name") == name {
				return toInt(po["containerPort"])
			}
		}
	}
	t.Fatalf("no container port named %s", name)
	return 0
}

func intField(o k8s.Object, path ...any) int { return toInt(o.Get(path...)) }

// toInt reads a YAML number; -1 when absent.
func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return -1
}

// quantityBytes converts a Kubernetes memory quantity (Ki, Mi, Gi or plain
// bytes) into bytes for podman --memory.
func quantityBytes(t *testing.T, q string) string {
	t.Helper()
	for suffix, mult := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("memory quantity %q: %v", q, err)
			}
			return strconv.FormatInt(v*mult, 10)
		}
	}
	if _, err := strconv.ParseInt(q, 10, 64); err != nil {
		t.Fatalf("memory quantity %q is not emulated", q)
	}
	return q
}
