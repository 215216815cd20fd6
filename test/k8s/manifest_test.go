package k8s

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Checks over the rendered manifests for what no server validates.

var requiredLabels = []string{
	"helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
	"app.kubernetes.io/managed-by", "app.kubernetes.io/component", "app.kubernetes.io/part-of",
}

func TestManifestConventions(t *testing.T) {
	tools := RequireTools(t)
	for _, c := range matrix(t) {
		t.Run(c.Name, func(t *testing.T) {
			objs := renderObjects(t, tools, c)
			if len(objs) < 8 {
				t.Fatalf("only %d objects rendered", len(objs))
			}
			for _, o := range objs {
				id := o.Kind() + "/" + o.Name()
				for _, l := range requiredLabels {
					if o.Str("metadata", "labels", l) == "" {
						t.Errorf("%s: missing label %s", id, l)
					}
				}
				if ps := o.PodSpec(); ps != nil {
					checkPodSecurity(t, id, o, ps)
				}
			}
		})
	}
}

// checkPodSecurity: every pod the chart runs is locked down and sized.
func checkPodSecurity(t *testing.T, id string, o Object, ps Object) {
	t.Helper()
	if v, ok := ps.Get("automountServiceAccountToken").(bool); !ok || v {
		t.Errorf("%s: automountServiceAccountToken must be false", id)
	}
	if ps.Get("securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod securityContext.runAsNonRoot must be true", id)
	}
	if ps.Str("securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile must be RuntimeDefault", id)
	}
	for i := range ps.List("containers") {
		c := Object(ps.Map("containers", i))
		cid := id + "/" + c.Str("name")
		sc := Object(c.Map("securityContext"))
		if sc.Get("runAsNonRoot") != true {
			t.Errorf("%s: runAsNonRoot must be true", cid)
		}
		if sc.Get("readOnlyRootFilesystem") != true {
			t.Errorf("%s: readOnlyRootFilesystem must be true", cid)
		}
		if sc.Get("allowPrivilegeEscalation") != false {
			t.Errorf("%s: allowPrivilegeEscalation must be false", cid)
		}
		if drop := sc.List("capabilities", "drop"); len(drop) != 1 || drop[0] != "ALL" {
			t.Errorf("%s: capabilities.drop must be [ALL], got %v", cid, drop)
		}
		if sc.Str("seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: seccompProfile must be RuntimeDefault", cid)
		}
		if uid, _ := sc.Get("runAsUser").(int); uid == 0 {
			t.Errorf("%s: runAsUser must be a non-zero number", cid)
		}
		for _, r := range []string{"cpu", "memory"} {
			if c.Str("resources", "requests", r) == "" {
				t.Errorf("%s: no %s request", cid, r)
			}
		}
		if c.Str("resources", "limits", "memory") == "" {
			t.Errorf("%s: no memory limit", cid)
		}
		img := c.Str("image")
		if strings.HasSuffix(img, ":latest") || !strings.ContainsAny(img, ":@") {
			t.Errorf("%s: image %q is not pinned", cid, img)
		}
		if strings.Contains(img, "bitnami") {
			t.Errorf("%s: image %q is a Bitnami image", cid, img)
		}
		if o.Kind() != "Job" && o.Kind() != "Pod" {
			if c.Get("livenessProbe") == nil || c.Get("readinessProbe") == nil {
				t.Errorf("%s: needs liveness and readiness probes", cid)
			}
		}
	}
}

func TestAppDeployment(t *testing.T) {
	tools := RequireTools(t)
	for _, c := range matrix(t) {
		t.Run(c.Name, func(t *testing.T) {
			objs := renderObjects(t, tools, c)
			d := Find(objs, "Deployment", "")[0]
			ps := d.PodSpec()
			ctr := Object(ps.Map("containers", 0))
			probe := func(kind string) (string, string) {
				return ctr.Str(kind, "httpGet", "path"), fmt.Sprint(ctr.Get(kind, "httpGet", "port"))
			}
			for kind, want := range map[string]string{"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
				if path, port := probe(kind); path != want || port != "http" {
					t.Errorf("%s: got %s on port %s, want %s on http", kind, path, port, want)
				}
			}
			// Graceful WebSocket drain: SIGKILL comes only after preStop +
			// drainDelay + shutdownTimeout.
			preStop, _ := ctr.Get("lifecycle", "preStop", "sleep", "seconds").(int)
			if preStop < 1 {
				t.Errorf("preStop sleep = %d, want a delay", preStop)
			}
			cfg := appConfig(t, objs)
			drain := durationAt(t, cfg, "drainDelay", 0)
			shutdown := durationAt(t, cfg, "shutdownTimeout", 25*time.Second)
			grace, _ := ps.Get("terminationGracePeriodSeconds").(int)
			if need := preStop + int((drain + shutdown).Seconds()); grace <= need {
				t.Errorf("terminationGracePeriodSeconds %d leaves no margin over preStop %ds + drainDelay %s + shutdownTimeout %s", grace, preStop, drain, shutdown)
			}
			if len(ps.List("topologySpreadConstraints")) == 0 {
				t.Error("no topologySpreadConstraints")
			}
			if ps.Map("affinity", "podAntiAffinity") == nil {
				t.Error("no pod anti-affinity")
			}
			// Config mounted from the ConfigMap, checksum annotation present.
			if !strings.Contains(fmt.Sprint(ctr.Get("args")), "/etc/redlane/config.yaml") {
				t.Errorf("args %v do not point at the mounted config", ctr.Get("args"))
			}
			if d.Str("spec", "template", "metadata", "annotations", "checksum/config") == "" {
				t.Error("no checksum/config annotation on the pod template")
			}
			// Secrets reach the app as the env names it reads, from Secrets only.
			env := map[string]Object{}
			for _, e := range ctr.List("env") {
				m := Object(e.(map[string]any))
				env[m.Str("name")] = m
			}
			for _, name := range []string{"SECRET_KEY", "ADMIN_TOKEN"} {
				if env[name].Str("valueFrom", "secretKeyRef", "name") == "" {
					t.Errorf("%s does not come from a Secret", name)
				}
			}
			for name, e := range env {
				if strings.Contains(name, "PASSWORD") || strings.HasSuffix(name, "_URL") || strings.Contains(name, "TOKEN") || strings.Contains(name, "KEY") {
					if e.Get("value") != nil {
						t.Errorf("%s is a plain value, not a secret reference", name)
					}
				}
			}
			hpa := Find(objs, "HorizontalPodAutoscaler", "")
			if (len(hpa) == 1) == (d.Get("spec", "replicas") != nil) {
				t.Errorf("with an HPA the Deployment must not set replicas (and without one it must): hpa=%d replicas=%v", len(hpa), d.Get("spec", "replicas"))
			}
			if len(Find(objs, "PodDisruptionBudget", "")) == 0 {
				t.Error("no PodDisruptionBudget")
			}
			sa := Find(objs, "ServiceAccount", "")
			if len(sa) != 1 || sa[0].Get("automountServiceAccountToken") != false {
				t.Error("ServiceAccount must exist with automountServiceAccountToken: false")
			}
		})
	}
}

// appConfig returns spec.server of the rendered config document.
func appConfig(t *testing.T, objs []Object) Object {
	t.Helper()
	doc := Find(objs, "ConfigMap", "-config")[0].Str("data", "config.yaml")
	parsed, err := ParseManifests([]byte(doc))
	if err != nil || len(parsed) != 1 {
		t.Fatalf("config document does not parse: %v", err)
	}
	if parsed[0].Str("kind") != "RedlaneConfig" || parsed[0].Str("apiVersion") != "redlane.dev/v1alpha1" {
		t.Fatalf("config document is not a RedlaneConfig: %v", parsed[0])
	}
	return Object(parsed[0].Map("spec"))
}

func durationAt(t *testing.T, spec Object, field string, def time.Duration) time.Duration {
	t.Helper()
	s := spec.Str("server", field)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("spec.server.%s = %q: %v", field, s, err)
	}
	return d
}

// TestConfigChecksumRollsOnlyOnChange: a config change alters the pod
// template's checksum; an unrelated change (replica count) does not.
func TestConfigChecksumRollsOnlyOnChange(t *testing.T) {
	tools := RequireTools(t)
	sum := func(set ...string) string {
		objs := renderObjects(t, tools, valuesCase{Name: "x", Set: set})
		return Find(objs, "Deployment", "")[0].Str("spec", "template", "metadata", "annotations", "checksum/config")
	}
	base := sum()
	if sum("config.log.level=debug") == base {
		t.Error("a config change does not change checksum/config")
	}
	if sum("replicaCount=5") != base {
		t.Error("a replica change changes checksum/config")
	}
}

var maxmemoryRe = regexp.MustCompile(`(?m)^maxmemory (\S+)$`)

func TestRedisConfig(t *testing.T) {
	tools := RequireTools(t)
	cases := []struct {
		set  []string
		want string
	}{
		{nil, strconv.Itoa(512 * 1024 * 1024 * 75 / 100)},                                          // derived from the 512Mi limit
		{[]string{"redis.resources.limits.memory=2Gi", "redis.maxmemoryPercent=50"}, "1073741824"}, // derived, other share
		{[]string{"redis.resources.limits.memory=1G"}, "750000000"},
		{[]string{"redis.maxmemory=2gb", "redis.resources.limits.memory=3Gi"}, "2147483648"}, // explicit, rendered in bytes
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			objs := renderObjects(t, tools, valuesCase{Name: "x", Set: tc.set})
			conf := Find(objs, "ConfigMap", "-redis")[0].Str("data", "redis.conf")
			m := maxmemoryRe.FindStringSubmatch(conf)
			if m == nil || m[1] != tc.want {
				t.Fatalf("maxmemory = %v, want %s", m, tc.want)
			}
			for _, line := range []string{"maxmemory-policy allkeys-lru", "appendonly yes", "appendfsync everysec", "save 900 1", "save 300 10", "save 60 10000", `rename-command FLUSHALL ""`, `rename-command CONFIG ""`} {
				if !strings.Contains(conf, "\n"+line+"\n") {
					t.Errorf("redis.conf lacks %q", line)
				}
			}
			if strings.Contains(conf, "requirepass") && !strings.Contains(conf, "requirepass and") {
				t.Error("redis.conf must not carry the password")
			}
		})
	}
}

func TestRedisClusterManifests(t *testing.T) {
	tools := RequireTools(t)
	objs := renderObjects(t, tools, valuesCase{Name: "cluster", Set: []string{"redis.architecture=cluster"}})
	sts := Find(objs, "StatefulSet", "-redis")[0]
	if r, _ := sts.Get("spec", "replicas").(int); r != 6 {
		t.Errorf("cluster StatefulSet replicas = %d, want 6 (3 masters + 3 replicas)", r)
	}
	if sts.Str("spec", "podManagementPolicy") != "Parallel" {
		t.Error("cluster pods must start in parallel")
	}
	headless := Find(objs, "Service", "-redis-headless")[0]
	if headless.Str("spec", "clusterIP") != "None" || headless.Get("spec", "publishNotReadyAddresses") != true {
		t.Error("headless Service must publish not-ready addresses")
	}
	if sts.Str("spec", "serviceName") != headless.Name() {
		t.Error("StatefulSet serviceName is not the headless Service")
	}
	var announce string
	for _, e := range sts.PodSpec().List("containers", 0, "env") {
		if m := Object(e.(map[string]any)); m.Str("name") == "REDIS_ANNOUNCE_HOSTNAME" {
			announce = m.Str("value")
		}
	}
	if !strings.HasPrefix(announce, "$(POD_NAME).rel-redlane-redis-headless.redlane-test.svc.") {
		t.Errorf("announced hostname %q is not the pod's stable DNS name", announce)
	}
	conf := Find(objs, "ConfigMap", "-redis")[0].Str("data", "redis.conf")
	for _, line := range []string{"cluster-enabled yes", "cluster-config-file /data/nodes.conf", "cluster-preferred-endpoint-type hostname"} {
		if !strings.Contains(conf, line) {
			t.Errorf("redis.conf lacks %q", line)
		}
	}
	// Not a hook: `helm install --wait` runs post-install hooks only after
	// every pod is Ready, and the app is Ready only once the Job has run.
	job := Find(objs, "Job", "-redis-cluster-init-r1")[0]
	if hook := job.Str("metadata", "annotations", "helm.sh/hook"); hook != "" {
		t.Errorf("cluster Job is a %q hook; helm install --wait would never run it", hook)
	}
	cfg := appConfig(t, objs)
	if addrs := cfg.List("redis", "addrs"); len(addrs) != 6 || cfg.Get("redis", "clusterMode") != true {
		t.Errorf("app config: addrs %v clusterMode %v", addrs, cfg.Get("redis", "clusterMode"))
	}
}

// TestNetworkPolicies: Redis and PostgreSQL accept only Redlane pods (and,
// for Redis, each other and the cluster Job).
func TestNetworkPolicies(t *testing.T) {
	tools := RequireTools(t)
	objs := renderObjects(t, tools, valuesCase{Name: "everything", Files: []string{ChartDir() + "/ci/everything-values.yaml"}})
	for _, tc := range []struct {
		suffix, component string
		allowed           []string
	}{
		{"-redis", "redis", []string{"app", "redis", "redis-cluster-init"}},
		{"-postgresql", "postgresql", []string{"app"}},
	} {
		np := Find(objs, "NetworkPolicy", tc.suffix)
		if len(np) != 1 {
			t.Fatalf("want one NetworkPolicy %s, got %d", tc.suffix, len(np))
		}
		if got := np[0].Str("spec", "podSelector", "matchLabels", "app.kubernetes.io/component"); got != tc.component {
			t.Errorf("%s selects component %q", np[0].Name(), got)
		}
		seen := map[string]bool{}
		for _, rule := range np[0].List("spec", "ingress") {
			from := Object(rule.(map[string]any)).List("from")
			if len(from) == 0 {
				t.Errorf("%s has a rule open to everyone", np[0].Name())
			}
			for _, peer := range from {
				p := Object(peer.(map[string]any))
				if p.Get("namespaceSelector") != nil || p.Get("ipBlock") != nil {
					t.Errorf("%s admits peers beyond the release's pods", np[0].Name())
				}
				if p.Str("podSelector", "matchLabels", "app.kubernetes.io/instance") != testRelease {
					t.Errorf("%s admits pods of other releases", np[0].Name())
				}
				seen[p.Str("podSelector", "matchLabels", "app.kubernetes.io/component")] = true
			}
		}
		for _, a := range tc.allowed {
			if !seen[a] {
				t.Errorf("%s does not admit %s pods", np[0].Name(), a)
			}
		}
		if len(seen) != len(tc.allowed) {
			t.Errorf("%s admits %v, want exactly %v", np[0].Name(), seen, tc.allowed)
		}
	}
}

// TestSecrets: generated secrets are long and random; existingSecret makes
// the chart create none and reference the given name and keys.
func TestSecrets(t *testing.T) {
	tools := RequireTools(t)
	objs := renderObjects(t, tools, valuesCase{Name: "default"})
	sec := Find(objs, "Secret", "")
	if len(sec) != 1 {
		t.Fatalf("want one Secret, got %d", len(sec))
	}
	for _, k := range []string{"redis-password", "secret-key", "admin-token"} {
		if v := sec[0].Str("stringData", k); len(v) < 32 {
			t.Errorf("generated %s has %d characters, want at least 32", k, len(v))
		}
	}
	objs = renderObjects(t, tools, valuesCase{Name: "existing-secret", Files: []string{ChartDir() + "/ci/existing-secret-values.yaml"}})
	if n := len(Find(objs, "Secret", "")); n != 0 {
		t.Errorf("existingSecret still renders %d Secret(s)", n)
	}
	refs := 0
	for _, o := range objs {
		ps := o.PodSpec()
		if ps == nil {
			continue
		}
		for _, c := range ps.List("containers") {
			for _, e := range Object(c.(map[string]any)).List("env") {
				ref := Object(e.(map[string]any)).Map("valueFrom", "secretKeyRef")
				if ref == nil {
					continue
				}
				refs++
				if ref["name"] != "redlane-secrets" {
					t.Errorf("%s references Secret %v, want redlane-secrets", o.Name(), ref["name"])
				}
				if k, _ := ref["key"].(string); strings.ToUpper(k) != k {
					t.Errorf("%s references key %q, not one of the configured key names", o.Name(), k)
				}
			}
		}
	}
	if refs < 5 {
		t.Errorf("only %d secret references with existingSecret", refs)
	}
}

// TestUsersDatabase: every pod of a release sees the same users. By default
// the chart runs PostgreSQL, as it runs Redis, and hands its URL to the pods
// through the Secret; an external database's URL goes the same way; only the
// one-pod try-out runs on Redlane's embedded database (the render refuses it
// for more pods: TestRenderFailsOnContradictions). Demo users, whose password
// is public, are in the config document only where the values ask for them.
func TestUsersDatabase(t *testing.T) {
	tools := RequireTools(t)
	for _, tc := range []struct {
		name     string
		files    []string
		postgres bool   // an in-chart PostgreSQL StatefulSet
		url      string // prefix of the DATABASE_URL the pods get from the Secret; "" for none (the embedded database)
		replicas int
		demo     any // spec.database.seedUsers of the config document; nil when unset
	}{
		{"default", nil, true, "postgres://redlane:", 2, nil},
		{"external-db", []string{ChartDir() + "/ci/external-db-values.yaml"}, false, "postgres://redlane:secret@db.example.internal:5432/", 2, nil},
		{"embedded-db", []string{ChartDir() + "/ci/embedded-db-values.yaml"}, false, "", 1, 300},
		{"values-dev", []string{ChartDir() + "/values-dev.yaml"}, false, "", 1, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderObjects(t, tools, valuesCase{Name: tc.name, Files: tc.files})
			if got := len(Find(objs, "StatefulSet", "-postgresql")); got != map[bool]int{true: 1}[tc.postgres] {
				t.Errorf("%d PostgreSQL StatefulSets, want postgres=%v", got, tc.postgres)
			}
			d := Find(objs, "Deployment", "")[0]
			if got, _ := d.Get("spec", "replicas").(int); got != tc.replicas {
				t.Errorf("replicas = %v, want %d", d.Get("spec", "replicas"), tc.replicas)
			}
			var ref map[string]any
			for _, e := range d.PodSpec().List("containers", 0, "env") {
				if m := Object(e.(map[string]any)); m.Str("name") == "DATABASE_URL" {
					ref = m.Map("valueFrom", "secretKeyRef")
					if ref == nil {
						t.Fatal("DATABASE_URL is not a Secret reference")
					}
				}
			}
			if (ref != nil) != (tc.url != "") {
				t.Fatalf("DATABASE_URL from a Secret: %v, want %v", ref != nil, tc.url != "")
			}
			if ref != nil {
				sec := Find(objs, "Secret", "")
				if len(sec) != 1 || sec[0].Name() != ref["name"] {
					t.Fatalf("DATABASE_URL references Secret %v, not the chart's", ref["name"])
				}
				url := sec[0].Str("stringData", ref["key"].(string))
				if !strings.HasPrefix(url, tc.url) {
					t.Errorf("DATABASE_URL = %q, want %s...", url, tc.url)
				}
				if tc.postgres && !strings.Contains(url, "@"+testRelease+"-redlane-postgresql:5432/redlane") {
					t.Errorf("DATABASE_URL %q does not point at the in-chart PostgreSQL", url)
				}
			}
			spec := appConfig(t, objs)
			if got := spec.Get("database", "seedUsers"); fmt.Sprint(got) != fmt.Sprint(tc.demo) {
				t.Errorf("config document spec.database.seedUsers = %v, want %v", got, tc.demo)
			}
		})
	}
}
