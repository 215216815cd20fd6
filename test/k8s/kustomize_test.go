package k8s

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The plain manifests (k8s/base and the dev overlay) deploy the same app,
// standalone Redis and PostgreSQL as the chart's defaults without Helm; they
// are held to the chart's standards.

func kustomize(t *testing.T, tools Tools, dir string) string {
	t.Helper()
	return Cmd{Bin: tools.Bin("kubectl"), Args: []string{"kustomize", filepath.Join(RepoRoot(), "k8s", dir)}}.Must(t)
}

func TestKustomizeManifests(t *testing.T) {
	tools := RequireTools(t)
	bin := redlaneBinary(t)
	for _, dir := range []string{"base", "overlays/dev"} {
		t.Run(dir, func(t *testing.T) {
			manifest := kustomize(t, tools, dir)
			objs, err := ParseManifests([]byte(manifest))
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Kind()]++
				id := o.Kind() + "/" + o.Name()
				if o.Kind() != "Namespace" {
					for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"} {
						if o.Str("metadata", "labels", l) == "" {
							t.Errorf("%s: missing label %s", id, l)
						}
					}
				}
				if ps := o.PodSpec(); ps != nil {
					checkPodSecurity(t, id, o, ps)
				}
			}
			for _, k := range []string{"Deployment", "StatefulSet", "Service", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget", "ServiceAccount"} {
				if kinds[k] == 0 {
					t.Errorf("no %s in %s", k, dir)
				}
			}
			// One users database for every pod: PostgreSQL beside Redis, its
			// URL from the Secret, never the embedded per-pod database.
			if len(Find(objs, "StatefulSet", "-postgresql")) != 1 {
				t.Errorf("no PostgreSQL StatefulSet in %s: each pod would run its own embedded users database", dir)
			}
			var dbURL Object
			for _, e := range Find(objs, "Deployment", "")[0].PodSpec().List("containers", 0, "env") {
				if m := Object(e.(map[string]any)); m.Str("name") == "DATABASE_URL" {
					dbURL = m
				}
			}
			if dbURL.Str("valueFrom", "secretKeyRef", "name") != "redlane-secrets" || dbURL.Str("valueFrom", "secretKeyRef", "key") != "database-url" {
				t.Errorf("DATABASE_URL does not come from redlane-secrets/database-url: %v", dbURL)
			}
			// The config document passes `redlane config check`.
			var doc, conf string
			for _, cm := range Find(objs, "ConfigMap", "") {
				if v := cm.Str("data", "config.yaml"); v != "" {
					doc = v
				}
				if v := cm.Str("data", "redis.conf"); v != "" {
					conf = v
				}
			}
			f := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			env := podEnv(Find(objs, "Deployment", "")[0])
			if out := (Cmd{Bin: bin, Args: []string{"config", "check", "-f", f}, Env: env, Dir: t.TempDir()}).Must(t); !strings.Contains(out, "valid") {
				t.Errorf("config check: %s", out)
			}
			// maxmemory is 75% of the Redis memory limit (512Mi), LRU, AOF.
			if m := regexp.MustCompile(`(?m)^maxmemory (\d+)$`).FindStringSubmatch(conf); m == nil || m[1] != "402653184" {
				t.Errorf("redis.conf maxmemory = %v, want 402653184", m)
			}
			for _, line := range []string{"maxmemory-policy allkeys-lru", "appendonly yes", "save 900 1", `rename-command FLUSHALL ""`} {
				if !strings.Contains(conf, line) {
					t.Errorf("redis.conf lacks %q", line)
				}
			}
			out, errOut, err := kubeconform(t, tools, manifest)
			if err != nil || !strings.Contains(out, "Invalid: 0, Errors: 0, Skipped: 0") {
				t.Errorf("kubeconform: %v\n%s%s", err, out, errOut)
			}
		})
	}
}

// TestKustomizeOnServer: the base passes a strict server-side dry run, and
// the dev overlay deploys for real (pods Ready under kwok) and deletes.
func TestKustomizeOnServer(t *testing.T) {
	c := requireControlPlane(t)
	tools := RequireTools(t)
	c.ensureNamespace(t, testNamespace)
	out := c.Kubectl("apply", "--dry-run=server", "--validate=strict", "-n", testNamespace, "-f", "-").WithStdin(kustomize(t, tools, "base")).Must(t)
	if strings.Contains(out, "error") || !strings.Contains(out, "deployment.apps/redlane created (server dry run)") {
		t.Fatalf("dry run of k8s/base:\n%s", out)
	}
	dev := filepath.Join(RepoRoot(), "k8s", "overlays", "dev")
	defer func() {
		if t.Failed() {
			t.Log(c.dump("redlane-dev"))
		}
	}()
	c.Kubectl("apply", "--validate=strict", "-k", dev).Must(t)
	c.Kubectl("rollout", "status", "deployment/redlane", "-n", "redlane-dev", "--timeout=120s").Must(t)
	c.Kubectl("rollout", "status", "statefulset/redlane-redis", "-n", "redlane-dev", "--timeout=120s").Must(t)
	c.Kubectl("rollout", "status", "statefulset/redlane-postgresql", "-n", "redlane-dev", "--timeout=120s").Must(t)
	c.Kubectl("delete", "-k", dev, "--wait=false").Must(t)
}
