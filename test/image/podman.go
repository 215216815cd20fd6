package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/test/k8s"
)

// Podman runs podman with the settings this kind of host needs, kept in a
// private containers.conf so that pods' infra containers get them too: runc
// (crun fails on cgroup v1/hybrid hosts), cgroupfs (no systemd), and
// explicit ulimits (without them runc's setrlimit is refused: no
// CAP_SYS_RESOURCE).
type Podman struct {
	conf string
}

const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`

// RequirePodman returns a Podman when podman, runc and the given images
// exist. Otherwise the test is skipped locally and fails under CI=true,
// where .ci/run installs podman and runs `make image` first.
func RequirePodman(t testing.TB, images ...string) *Podman {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; .ci/run installs podman and runs make image", msg)
		}
		t.Skipf("%s (apt-get install podman runc catatonit; make image)", msg)
	}
	for _, bin := range []string{"podman", "runc", "catatonit"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing("%s is not installed", bin)
		}
	}
	if os.Geteuid() != 0 {
		missing("podman's bridge network and port publishing need root")
	}
	dir := t.TempDir()
	p := &Podman{conf: filepath.Join(dir, "containers.conf")}
	if err := os.WriteFile(p.conf, []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, img := range images {
		if _, err := p.Out(30*time.Second, "image", "exists", img); err != nil {
			missing("image %s is not built", img)
		}
	}
	return p
}

// Out runs podman ARGS and returns its trimmed output (stdout and stderr).
func (p *Podman) Out(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Must is Out that fails the test on an error.
func (p *Podman) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, err := p.Out(2*time.Minute, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rendered returns the objects `helm template` renders for the values file.
func rendered(t testing.TB, tools k8s.Tools, release, valuesFile string) []k8s.Object {
	t.Helper()
	out := tools.Helm(t, "template", release, k8s.ChartDir(), "--namespace", "default", "-f", valuesFile).Must(t)
	objs, err := k8s.ParseManifests([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// one returns the single object of a kind and name.
func one(t testing.TB, objs []k8s.Object, kind, name string) k8s.Object {
	t.Helper()
	for _, o := range objs {
		if o.Kind() == kind && o.Name() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}
