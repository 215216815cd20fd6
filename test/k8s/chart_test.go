package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// valuesCase is one point of the values matrix: the chart defaults, or the
// defaults plus one charts/redlane/ci/*-values.yaml file.
type valuesCase struct {
	Name  string
	Files []string
	Set   []string
}

// Args are helm's -f/--set arguments of the case.
func (c valuesCase) Args() []string {
	var a []string
	for _, f := range c.Files {
		a = append(a, "-f", f)
	}
	for _, s := range c.Set {
		a = append(a, "--set", s)
	}
	return a
}

// matrix is the default values plus every ci/*-values.yaml file, so a new
// file extends every matrix check.
func matrix(t testing.TB) []valuesCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(ChartDir(), "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci/*-values.yaml files in the chart (%v)", err)
	}
	sort.Strings(files)
	cases := []valuesCase{{Name: "default"}}
	for _, f := range files {
		cases = append(cases, valuesCase{Name: strings.TrimSuffix(filepath.Base(f), "-values.yaml"), Files: []string{f}})
	}
	return cases
}

// kubeVersion is the Kubernetes version rendering and validation target:
// the version of the loopback control plane.
const kubeVersion = "1.35.4"

const (
	testRelease   = "rel"
	testNamespace = "redlane-test"
)

var (
	renderMu    sync.Mutex
	renderCache = map[string]string{}
)

// render runs helm template for a case (cached per case and namespace).
func render(t testing.TB, tools Tools, c valuesCase, namespace string) string {
	t.Helper()
	key := namespace + "|" + strings.Join(c.Args(), " ")
	renderMu.Lock()
	out, ok := renderCache[key]
	renderMu.Unlock()
	if ok {
		return out
	}
	args := append([]string{"template", testRelease, ChartDir(), "--namespace", namespace, "--kube-version", kubeVersion}, c.Args()...)
	out = tools.Helm(t, args...).Must(t)
	renderMu.Lock()
	renderCache[key] = out
	renderMu.Unlock()
	return out
}

func renderObjects(t testing.TB, tools Tools, c valuesCase) []Object {
	t.Helper()
	objs, err := ParseManifests([]byte(render(t, tools, c, testNamespace)))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestHelmLintStrict(t *testing.T) {
	tools := RequireTools(t)
	for _, c := range matrix(t) {
		t.Run(c.Name, func(t *testing.T) {
			out := tools.Helm(t, append([]string{"lint", "--strict", ChartDir(), "--kube-version", kubeVersion}, c.Args()...)...).Must(t)
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint: %s", out)
			}
		})
	}
}

// TestSchemaRejectsTypos: values.schema.json turns misspelt keys and wrong
// types into errors instead of silently ignored values, including inside
// the config document.
func TestSchemaRejectsTypos(t *testing.T) {
	tools := RequireTools(t)
	for _, set := range []string{
		"redis.architecure=cluster",
		"redis.architecture=sharded",
		"replicaCount=two",
		"config.server.drainDlay=3s",
		"config.server.drainDelay=soon",
		"config.log.level=loud",
		"ingress.enabeld=true",
		"monitoring.serviceMonitor.labels=notamap",
		"tracing.samplingRatio=1.5",
		"tracing.protocol=http",
		"tracing.endpiont=http://jaeger:4317",
	} {
		t.Run(set, func(t *testing.T) {
			cmd := tools.Helm(t, "template", testRelease, ChartDir(), "--kube-version", kubeVersion, "--set", set)
			_, errOut, err := cmd.Run()
			if err == nil {
				t.Fatalf("helm template --set %s succeeded; the schema must reject it", set)
			}
			if !strings.Contains(errOut, "values don't meet the specifications of the schema") && !strings.Contains(errOut, "at '/") {
				t.Fatalf("helm template --set %s failed, but not on the schema:\n%s", set, errOut)
			}
		})
	}
}

// TestRenderFailsOnContradictions: values that cannot work fail the render
// with a message instead of producing a broken release.
func TestRenderFailsOnContradictions(t *testing.T) {
	tools := RequireTools(t)
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"redis.enabled=false"}, "set externalRedis.url or externalRedis.addrs"},
		{[]string{"config.redis.host=elsewhere"}, "config.redis.host is set by the chart"},
		{[]string{"redis.resources.limits=null"}, "set redis.maxmemory or redis.resources.limits.memory"},
		{[]string{"redis.architecture=cluster", "redis.cluster.masters=2"}, "masters"},
		{[]string{"redis.maxmemory=lots"}, "does not match pattern"},
		{[]string{"redis.maxmemory=2gb"}, "redis.maxmemory (2147483648 bytes) is above redis.resources.limits.memory"},
		{[]string{"redis.maxmemoryPercent=120"}, "maximum: got 120, want 100"},
		{[]string{"externalRedis.url=redis://elsewhere:6379"}, "externalRedis is set while redis.enabled is true"},
		{[]string{"externalRedis.addrs={a:6379,b:6379}"}, "externalRedis is set while redis.enabled is true"},
		{[]string{"postgresql.enabled=true", "externalDatabase.url=postgres://db/x"}, "externalDatabase.url is set while postgresql.enabled is true"},
		{[]string{"externalDatabase.url=postgres://db/x"}, "externalDatabase.url is set while postgresql.enabled is true"}, // PostgreSQL is on by default
		// Per-pod users databases: several pods, each with its own embedded database.
		{[]string{"postgresql.enabled=false"}, "replicaCount=2 with the embedded users database"},
		{[]string{"postgresql.enabled=false", "replicaCount=3"}, "replicaCount=3 with the embedded users database"},
		{[]string{"postgresql.enabled=false", "replicaCount=1", "autoscaling.enabled=true"}, "autoscaling.enabled=true with the embedded users database"},
		{[]string{"postgresql.enabled=false", "secrets.existingSecret=mine"}, "with secrets.existingSecret: any non-empty value"},
		// Demo users (public password) asked for where Redlane would ignore them.
		{[]string{"config.database.seedUsers=300"}, "config.database.seedUsers asks for demo users"},
		{[]string{"postgresql.enabled=false", "externalDatabase.url=postgres://db/x", "config.database.seedUsers=1"}, "config.database.seedUsers asks for demo users"},
		{[]string{"tracing.enabled=true"}, "tracing.enabled needs tracing.endpoint"},
		// The database URL is a secret: never in the ConfigMap.
		{[]string{"config.database.url=postgres://u:p@db/x"}, "config.database.url would put the database password in a ConfigMap"},
	} {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			args := []string{"template", testRelease, ChartDir(), "--kube-version", kubeVersion}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, errOut, err := tools.Helm(t, args...).Run()
			if err == nil || !strings.Contains(errOut, tc.want) {
				t.Fatalf("want a render error containing %q, got err=%v\n%s", tc.want, err, errOut)
			}
		})
	}
}

// TestMaxmemoryForms: redis.maxmemory takes exactly the sizes redis.conf
// takes, renders them as bytes, and the template refuses what the schema
// would let through when schema validation is skipped.
func TestMaxmemoryForms(t *testing.T) {
	tools := RequireTools(t)
	for _, tc := range []struct {
		flag, value string
		want        string // the redis.conf line, or the render error
	}{
		{"--set", "104857600", "maxmemory 104857600"},
		{"--set-string", "104857600", "maxmemory 104857600"},
		{"--set-string", "100mb", "maxmemory 104857600"},
		{"--set-string", "100MB", "maxmemory 104857600"},
		{"--set-string", "100m", "maxmemory 100000000"},
		{"--set-string", "64k", "maxmemory 64000"},
		{"--set-string", "64kb", "maxmemory 65536"},
		{"--set-string", "0", "maxmemory 0"},
		{"--set-string", "", "maxmemory 402653184"}, // derived: 75% of 512Mi
		{"--set-string", "1.5gb", "is not a redis.conf memory size"},
		{"--set-string", "lots", "is not a redis.conf memory size"},
		{"--set-string", "-1", "is not a redis.conf memory size"},
		{"--set-string", "1gb", "is above redis.resources.limits.memory"},
	} {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			out, errOut, err := tools.Helm(t, "template", testRelease, ChartDir(), "--kube-version", kubeVersion,
				"--skip-schema-validation", "--show-only", "templates/redis-configmap.yaml", tc.flag, "redis.maxmemory="+tc.value).Run()
			if !strings.Contains(out+errOut, tc.want) || (err == nil) != strings.HasPrefix(tc.want, "maxmemory ") {
				t.Fatalf("want %q, got err=%v\n%s%s", tc.want, err, out, errOut)
			}
		})
	}
}

// TestDashboardsCopyIdentical: the chart ships a copy of dashboards/ (Helm
// cannot read outside the chart); the two must hold the same files.
func TestDashboardsCopyIdentical(t *testing.T) {
	top := jsonFiles(t, filepath.Join(RepoRoot(), "dashboards"))
	chart := jsonFiles(t, filepath.Join(ChartDir(), "dashboards"))
	for name, data := range top {
		got, ok := chart[name]
		if !ok {
			t.Errorf("dashboards/%s is missing from charts/redlane/dashboards/ (cp dashboards/*.json charts/redlane/dashboards/)", name)
		} else if got != data {
			t.Errorf("charts/redlane/dashboards/%s differs from dashboards/%s (cp dashboards/*.json charts/redlane/dashboards/)", name, name)
		}
	}
	for name := range chart {
		if _, ok := top[name]; !ok {
			t.Errorf("charts/redlane/dashboards/%s has no source in dashboards/", name)
		}
	}
	t.Logf("%d dashboard(s) in sync", len(top))
	rules, err := os.ReadFile(filepath.Join(RepoRoot(), "dashboards", "alerts", "redlane.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	copyOf, err := os.ReadFile(filepath.Join(ChartDir(), "alerts", "redlane.rules.yaml"))
	if err != nil || string(copyOf) != string(rules) {
		t.Errorf("charts/redlane/alerts/redlane.rules.yaml is missing or differs from dashboards/alerts/redlane.rules.yaml (make sync-dashboards): %v", err)
	}
}

func jsonFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(b)
	}
	return out
}

// TestDashboardConfigMaps: a dashboard in the chart's dashboards/ becomes a
// ConfigMap with the Grafana sidecar label; none renders no ConfigMap.
func TestDashboardConfigMaps(t *testing.T) {
	tools := RequireTools(t)
	chart := copyChart(t)
	dash := `{"title": "Redlane test", "panels": []}`
	if err := os.WriteFile(filepath.Join(chart, "dashboards", "redlane_test_board.json"), []byte(dash), 0o644); err != nil {
		t.Fatal(err)
	}
	out := tools.Helm(t, "template", testRelease, chart, "--kube-version", kubeVersion).Must(t)
	objs, err := ParseManifests([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	cms := Find(objs, "ConfigMap", "-test-board-dashboard")
	if len(cms) != 1 {
		t.Fatalf("want one dashboard ConfigMap, got %d", len(cms))
	}
	cm := cms[0]
	if cm.Str("metadata", "labels", "grafana_dashboard") != "1" {
		t.Errorf("dashboard ConfigMap lacks grafana_dashboard: \"1\": %v", cm.Map("metadata", "labels"))
	}
	if got := cm.Str("data", "redlane_test_board.json"); got != dash {
		t.Errorf("dashboard JSON changed on the way: %q", got)
	}
	out = tools.Helm(t, "template", testRelease, chart, "--kube-version", kubeVersion, "--set", "monitoring.grafanaDashboards.enabled=false").Must(t)
	if strings.Contains(out, "grafana_dashboard") {
		t.Error("grafanaDashboards.enabled=false still renders dashboards")
	}
	// The real chart: exactly one ConfigMap per dashboard it holds.
	objs = renderObjects(t, tools, valuesCase{Name: "default"})
	var n int
	for _, o := range objs {
		if o.Kind() == "ConfigMap" && o.Str("metadata", "labels", "grafana_dashboard") == "1" {
			n++
		}
	}
	if want := len(jsonFiles(t, filepath.Join(ChartDir(), "dashboards"))); n != want {
		t.Errorf("chart renders %d dashboard ConfigMaps for %d dashboards", n, want)
	}
}

// copyChart copies charts/redlane to a temporary directory.
func copyChart(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "redlane")
	if err := os.CopyFS(dst, os.DirFS(ChartDir())); err != nil {
		t.Fatal(err)
	}
	return dst
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}
