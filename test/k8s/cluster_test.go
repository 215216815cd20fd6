package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Tests against the loopback control plane. kwok fakes the node: pods are
// scheduled, get Running/Ready and Job pods complete, but no container runs.

// TestServerDryRunStrict: every values combination is accepted by the real
// API server with strict field validation (helm's own --dry-run=server
// misses unknown fields), CRD kinds included.
func TestServerDryRunStrict(t *testing.T) {
	c := requireControlPlane(t)
	tools := RequireTools(t)
	c.ensureNamespace(t, testNamespace)
	for _, vc := range matrix(t) {
		t.Run(vc.Name, func(t *testing.T) {
			manifest := render(t, tools, vc, testNamespace)
			out := c.Kubectl("apply", "--dry-run=server", "--validate=strict", "-n", testNamespace, "-f", "-").WithStdin(manifest).Must(t)
			objs, err := ParseManifests([]byte(manifest))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(out, "(server dry run)"); got != len(objs) {
				t.Fatalf("server accepted %d of %d objects:\n%s", got, len(objs), out)
			}
		})
	}
	// The check can fail: an unknown field and a bad enum are rejected.
	t.Run("rejects-unknown-field", func(t *testing.T) {
		manifest := render(t, tools, valuesCase{Name: "default"}, testNamespace)
		bad := strings.Replace(manifest, "      enableServiceLinks: false\n", "      enableServiceLinks: false\n      bogusField: true\n", 1)
		if bad == manifest {
			t.Fatal("could not inject the unknown field")
		}
		_, errOut, err := c.Kubectl("apply", "--dry-run=server", "--validate=strict", "-n", testNamespace, "-f", "-").WithStdin(bad).Run()
		if err == nil || !strings.Contains(errOut, "bogusField") {
			t.Fatalf("unknown field accepted: %v %s", err, errOut)
		}
	})
	t.Run("rejects-bad-enum", func(t *testing.T) {
		manifest := render(t, tools, valuesCase{Name: "default"}, testNamespace)
		bad := strings.Replace(manifest, "imagePullPolicy: IfNotPresent", "imagePullPolicy: Sometimes", 1)
		_, errOut, err := c.Kubectl("apply", "--dry-run=server", "--validate=strict", "-n", testNamespace, "-f", "-").WithStdin(bad).Run()
		if err == nil || !strings.Contains(errOut, "Unsupported value") {
			t.Fatalf("bad enum accepted: %v %s", err, errOut)
		}
	})
}

// TestHelmLifecycle: helm install --wait, a no-op upgrade (pods stay), a
// config upgrade (pods roll through the checksum annotation), helm test and
// helm uninstall, for the default and the Redis Cluster values. Real: the
// API server accepting every object, the controllers rolling Deployments
// and StatefulSets, the hooks' order. Faked by kwok: the node, so no
// container runs, probes are not run and the helm test pod is marked
// Succeeded by a stage; TestHelmTestPodCommand runs that pod's command for
// real against a served instance.
func TestHelmLifecycle(t *testing.T) {
	c := requireControlPlane(t)
	for _, vc := range []valuesCase{
		{Name: "default"},
		{Name: "cluster", Files: []string{ChartDir() + "/ci/cluster-values.yaml"}},
	} {
		t.Run(vc.Name, func(t *testing.T) {
			ns := "life-" + vc.Name
			c.ensureNamespace(t, ns)
			defer c.Kubectl("delete", "namespace", ns, "--wait=false").Run()
			defer func() {
				if t.Failed() {
					t.Log(c.dump(ns))
				}
			}()
			helm := func(args ...string) string {
				return c.Helm(t, append(args, "--namespace", ns)...).Must(t)
			}
			start := time.Now()
			notes := helm(append([]string{"install", testRelease, ChartDir(), "--wait", "--timeout", helmTimeout}, vc.Args()...)...)
			for _, want := range []string{"NOTES:", "port-forward svc/rel-redlane 8000:8000", "helm test rel -n " + ns, "maxmemory 384.0 MiB per node, policy allkeys-lru",
				"Users database: in-chart PostgreSQL (rel-redlane-postgresql)", "There are no users yet"} {
				if !strings.Contains(notes, want) {
					t.Errorf("install output lacks %q:\n%s", want, notes)
				}
			}
			t.Logf("install --wait: %s", time.Since(start).Round(time.Millisecond))
			deploy := testRelease + "-redlane"
			c.Kubectl("rollout", "status", "deployment/"+deploy, "-n", ns, "--timeout=60s").Must(t)
			c.Kubectl("rollout", "status", "statefulset/"+deploy+"-redis", "-n", ns, "--timeout=60s").Must(t)
			c.Kubectl("rollout", "status", "statefulset/"+deploy+"-postgresql", "-n", ns, "--timeout=60s").Must(t)
			if strings.Contains(notes, "WARNING") {
				t.Errorf("the default install warns:\n%s", notes)
			}
			if vc.Name == "cluster" {
				// The create Job is the release's own, one per revision
				// (kwok completes its pod).
				c.Kubectl("wait", "--for=condition=Complete", "-n", ns, "job/"+testRelease+"-redlane-redis-cluster-init-r1", "--timeout=60s").Must(t)
				pvcs := c.Kubectl("get", "pvc", "-n", ns, "-l", "app.kubernetes.io/component=redis", "-o", "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}").Must(t)
				if strings.Count(pvcs, "Bound") != 6 {
					t.Errorf("want 6 bound volume claims, got:\n%s", pvcs)
				}
			}
			rev0, hash0 := c.newestReplicaSet(t, ns, deploy)

			start = time.Now()
			helm("upgrade", testRelease, ChartDir(), "--reuse-values", "--wait", "--timeout", helmTimeout)
			t.Logf("no-op upgrade --wait: %s", time.Since(start).Round(time.Millisecond))
			if vc.Name == "cluster" {
				// The upgrade's own Job replaces the install's.
				c.Kubectl("wait", "--for=condition=Complete", "-n", ns, "job/"+testRelease+"-redlane-redis-cluster-init-r2", "--timeout=60s").Must(t)
				if out := c.Kubectl("get", "jobs", "-n", ns, "-o", "name").Must(t); strings.Contains(out, "cluster-init-r1") {
					t.Errorf("the install's cluster Job outlived the upgrade: %s", out)
				}
			}
			if rev, hash := c.newestReplicaSet(t, ns, deploy); rev != rev0 || hash != hash0 {
				t.Errorf("an upgrade without changes rolled the pods: revision %s→%s, hash %s→%s", rev0, rev, hash0, hash)
			}

			start = time.Now()
			helm("upgrade", testRelease, ChartDir(), "--reuse-values", "--set", "config.log.level=debug", "--wait", "--timeout", helmTimeout)
			t.Logf("config upgrade --wait: %s", time.Since(start).Round(time.Millisecond))
			rev1, hash1 := c.newestReplicaSet(t, ns, deploy)
			if hash1 == hash0 || rev1 == rev0 {
				t.Errorf("a config change did not roll the pods: revision %s→%s, pod-template-hash %s→%s", rev0, rev1, hash0, hash1)
			}
			c.Kubectl("rollout", "status", "deployment/"+deploy, "-n", ns, "--timeout=60s").Must(t)
			cm := c.Kubectl("get", "configmap", deploy+"-config", "-n", ns, "-o", "jsonpath={.data.config\\.yaml}").Must(t)
			if !strings.Contains(cm, "level: debug") {
				t.Errorf("upgraded ConfigMap lacks the change:\n%s", cm)
			}

			start = time.Now()
			out := helm("test", testRelease, "--timeout", "2m")
			t.Logf("helm test: %s", time.Since(start).Round(time.Millisecond))
			if !strings.Contains(out, "Phase:          Succeeded") {
				t.Errorf("helm test:\n%s", out)
			}

			helm("uninstall", testRelease, "--wait", "--timeout", "2m")
			left := c.Kubectl("get", "deployments,statefulsets,services,configmaps,secrets,pods,networkpolicies,poddisruptionbudgets,serviceaccounts",
				"-n", ns, "-l", "app.kubernetes.io/instance="+testRelease, "-o", "name").Must(t)
			if strings.TrimSpace(left) != "" {
				t.Errorf("left after uninstall:\n%s", left)
			}
		})
	}
}

// TestInstallNotesWarnOnEmbeddedDatabase: the one-pod try-out on the
// embedded users database installs, but its notes say loudly what it is and
// that anyone can sign in as the demo users it asked for (a server-side dry
// run renders the notes as a real install would).
func TestInstallNotesWarnOnEmbeddedDatabase(t *testing.T) {
	c := requireControlPlane(t)
	c.ensureNamespace(t, testNamespace)
	vc := valuesCase{Name: "embedded-db", Files: []string{ChartDir() + "/ci/embedded-db-values.yaml"}}
	notes := c.Helm(t, append([]string{"install", testRelease, ChartDir(), "--dry-run=server", "--namespace", testNamespace}, vc.Args()...)...).Must(t)
	for _, want := range []string{
		"Users database: EMBEDDED in-memory SQLite inside the one Redlane pod",
		"WARNING: EMBEDDED USERS DATABASE, FOR A TRY-OUT ONLY.",
		"WARNING: 300 DEMO USERS user1 ... user300 WITH THE PUBLIC PASSWORD",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("install notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "There are no users yet") {
		t.Errorf("notes tell to create a first user while demo users exist:\n%s", notes)
	}
}

// newestReplicaSet returns the revision and pod-template-hash of the
// Deployment's newest ReplicaSet.
func (c *ControlPlane) newestReplicaSet(t *testing.T, ns, deploy string) (rev, hash string) {
	t.Helper()
	out := c.Kubectl("get", "replicasets", "-n", ns, "-l", "app.kubernetes.io/component=app",
		"-o", `jsonpath={range .items[*]}{.metadata.annotations.deployment\.kubernetes\.io/revision} {.metadata.labels.pod-template-hash}{"\n"}{end}`).Must(t)
	best := -1
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r int
		var h string
		if _, err := fmt.Sscanf(line, "%d %s", &r, &h); err == nil && r > best {
			best, hash = r, h
		}
	}
	if best < 0 {
		t.Fatalf("no ReplicaSet for %s:\n%s", deploy, out)
	}
	return fmt.Sprint(best), hash
}

func (c *ControlPlane) ensureNamespace(t *testing.T, ns string) {
	t.Helper()
	if _, _, err := c.Kubectl("get", "namespace", ns).Run(); err == nil {
		return
	}
	c.Kubectl("create", "namespace", ns).Must(t)
	// The controller-manager creates each namespace's default ServiceAccount.
	if _, errOut, err := c.kubectlWait(60*time.Second, "get", "serviceaccount", "default", "-n", ns); err != nil {
		t.Fatalf("namespace %s has no default ServiceAccount: %s", ns, errOut)
	}
}

// helmTimeout bounds each helm --wait: kwok readies pods in seconds, so
// minutes mean something is stuck (the dump then shows what).
const helmTimeout = "3m"

// dump describes a namespace's state for a failed test.
func (c *ControlPlane) dump(ns string) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"get", "all,pvc,pv,jobs", "-n", ns, "-o", "wide"},
		{"get", "events", "-n", ns, "--sort-by=.lastTimestamp"},
		{"get", "nodes", "-o", "wide"},
	} {
		out, errOut, _ := c.Kubectl(args...).Run()
		fmt.Fprintf(&b, "$ kubectl %s\n%s%s\n", strings.Join(args, " "), out, errOut)
	}
	return b.String()
}
