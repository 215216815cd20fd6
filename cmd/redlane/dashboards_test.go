package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/redlane/redlane/internal/dashboards"
	"github.com/redlane/redlane/internal/promtest"
	"github.com/redlane/redlane/internal/redistest"
)

// pendingAreas are features whose code is not on this branch yet: their
// panels must parse but cannot have data. When a feature merges, its metrics
// appear in /metrics and TestDashboardsAgainstPrometheus fails until its
// area is deleted here; from then on its panels must return data.
var pendingAreas = map[string]string{}

// dashboardsConfig is the config of the dashboards tests: INFO refreshed
// every scrape (not every 5 s), so new keys show without waiting.
func dashboardsConfig(cacheTTL string) string {
	return "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n" +
		"  redis: {infoCacheTTL: 500ms}\n  cache: {defaultTTL: " + cacheTTL + "}\n" + demoUsersSpec +
		"  queue:\n    schedules: [{name: dashboards-tick, queue: dashboards-scheduled, schedule: '@every 1s'}]\n"
}

// TestDashboardsAgainstPrometheus runs Redlane on a real Redis, scraped
// every second by a real Prometheus that also loads the alert rules; drives
// every feature; then evaluates every panel query, every variable and every
// alert expression through Prometheus' HTTP API. Each must parse, and each
// panel query (variables set to this deployment) must return data, with
// the labels its legend names. `promtool check metrics` must pass /metrics.
func TestDashboardsAgainstPrometheus(t *testing.T) {
	t.Parallel() // mostly waiting for Prometheus' first scrape
	redistest.Require(t, "prometheus", "promtool")
	root := filepath.Join("..", "..")
	cfg := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, cfg, dashboardsConfig("5m"))
	var rs *redistest.Server
	s, prom, vars := startScraped(t, func() map[string]string {
		rs = redistest.Start(t, redistest.WithArgs("--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"))
		return map[string]string{"REDIS_URL": rs.URL()}
	}, "--config", cfg)
	vars["node"] = rs.Addr()

	// Traffic through every feature this build has.
	feats := features(cfg)
	present := map[string]bool{}
	for _, f := range feats {
		present[f.area] = f.drive(t, s, 0)
	}
	for _, f := range feats {
		_, pending := pendingAreas[f.area]
		switch {
		case present[f.area] && pending:
			t.Errorf("feature %q has its routes in this build but is listed in pendingAreas (%s): delete it there, so its panels must return data", f.area, pendingAreas[f.area])
		case !present[f.area] && !pending:
			t.Errorf("feature %q has no routes in this build (404 No route), so its panels can have no data", f.area)
		}
	}
	metricsText := string(s.do("GET", "/metrics", "").Body)
	checkMetricsLint(t, metricsText)
	for area := range exportedAreas(metricsText) {
		if why, ok := pendingAreas[area]; ok {
			t.Errorf("/metrics exports redlane_%s_* but %q is in pendingAreas (%s): delete it there, so its panels must return data", area, area, why)
		}
	}

	checks := panelChecks(t, root, "*.json", vars)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Poll until every panel that must have data has it (rates need two
	// scrapes of each series), driving traffic between polls so rates and
	// quantiles are computed over live requests.
	var failing []string
	deadline := time.Now().Add(60 * time.Second)
	for round := 1; ; round++ {
		failing = failing[:0]
		for i := range checks {
			if msg := checks[i].run(ctx, prom); msg != "" {
				failing = append(failing, msg)
			}
		}
		if len(failing) == 0 || time.Now().After(deadline) {
			break
		}
		for _, f := range feats {
			if present[f.area] {
				f.drive(t, s, round)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, msg := range failing {
		t.Error(msg)
	}
	if len(failing) > 0 {
		t.Logf("prometheus log:\n%s", prom.Log())
	}
	required := 0
	for _, c := range checks {
		if c.needData {
			required++
		}
	}
	t.Logf("%d panel queries evaluated, %d required to return data (the rest read pending features %v)", len(checks), required, sortedKeys(pendingAreas))

	checkVariables(ctx, t, root, prom, vars)
	checkRules(ctx, t, root, prom)
}

// startScraped starts a Prometheus scraping Redlane every second with the
// alert rules loaded, with the labels the chart's ServiceMonitor gives
// (namespace, job); then Redis (startRedis returns Redlane's environment
// for it) and Redlane with args. Prometheus comes first because its first
// scrape waits for target discovery (about 5 s): Redis and Redlane start
// meanwhile. It returns the dashboard variables selecting this deployment.
func startScraped(t *testing.T, startRedis func() map[string]string, args ...string) (*server, *promtest.Server, map[string]string) {
	t.Helper()
	rules, err := filepath.Abs(filepath.Join("..", "..", dashboards.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	const namespace, job = "redlane-e2e", "redlane"
	instance := freeAddr(t)
	prom := promtest.Start(t, promtest.Options{
		Job:       job,
		Targets:   []string{instance},
		Labels:    map[string]string{"namespace": namespace}, // as Kubernetes discovery adds it
		RuleFiles: []string{rules},
	})
	s := startServerAt(t, instance, startRedis(), args...)
	s.waitStatus("/readyz", 200, readyWithin)
	return s, prom, map[string]string{
		"namespace": namespace, "job": job, "instance": instance,
		// Wide enough to hold every sample since Prometheus started.
		"__rate_interval": "5m",
	}
}

// TestRedisDashboardPerClusterNode: on a Redis Cluster, every Redis panel
// drawn per node ({{node}} in its legend) has one series per master, with
// the node variable at "All".
func TestRedisDashboardPerClusterNode(t *testing.T) {
	t.Parallel()
	redistest.Require(t, "prometheus")
	cfg := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, cfg, dashboardsConfig("5m"))
	var cl *redistest.Cluster
	s, prom, vars := startScraped(t, func() map[string]string {
		cl = redistest.StartCluster(t, 3, 0, redistest.WithArgs("--maxmemory", "256mb"))
		return map[string]string{"REDIS_ADDRS": strings.Join(cl.Addrs(), ",")}
	}, "--config", cfg)
	vars["node"] = ".*"
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} { // keys on every master
		expect(t, "lock "+k, s.do("POST", "/locks/"+k, `{"ttl":"60s"}`), 201)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := cl.Addrs()
	sort.Strings(want)
	checks := panelChecks(t, filepath.Join("..", ".."), "redlane-redis.json", vars)
	var failing []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		failing = failing[:0]
		for _, c := range checks {
			if !slices.Contains(c.legend, "node") {
				continue
			}
			v, err := prom.Query(ctx, c.expr)
			if err != nil {
				failing = append(failing, c.where+": "+err.Error())
				continue
			}
			var nodes []string
			for _, smp := range v.(model.Vector) {
				if n := string(smp.Metric["node"]); !slices.Contains(nodes, n) {
					nodes = append(nodes, n)
				}
			}
			sort.Strings(nodes)
			if !slices.Equal(nodes, want) {
				failing = append(failing, fmt.Sprintf("%s: nodes %v, want the masters %v\n  %s", c.where, nodes, want, c.expr))
			}
		}
		if len(failing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, f := range failing {
		t.Error(f)
	}
}

// panelCheck is one panel query, variables expanded.
type panelCheck struct {
	where    string // dashboard / panel / refId
	expr     string
	legend   []string // labels the legend names
	needData bool     // false when it reads a pending feature
}

var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// panelChecks reads every dashboard JSON under dashboards/ (not the Go
// code: what ships is what is tested) and lists its panel queries.
func panelChecks(t *testing.T, root, glob string, vars map[string]string) []panelCheck {
	t.Helper()
	ds := readDashboards(t, root, glob)
	if len(ds) == 0 || glob == "*.json" && len(ds) < 2 {
		t.Fatalf("dashboards/%s: found %d, want the overview and Redis dashboards", glob, len(ds))
	}
	var out []panelCheck
	for _, d := range ds {
		for _, panel := range d.Panels {
			for _, tg := range panel.Targets {
				expr, err := dashboards.Expand(tg.Expr, vars)
				if err != nil {
					t.Errorf("%s / %s: %v", d.Title, panel.Title, err)
					continue
				}
				c := panelCheck{where: d.Title + " / " + panel.Title + " / " + tg.RefID, expr: expr, needData: true}
				for _, m := range dashboards.Metrics(expr) {
					if _, pending := pendingAreas[dashboards.Area(m)]; pending {
						c.needData = false
					}
				}
				for _, l := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
					c.legend = append(c.legend, l[1])
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// readDashboards parses the dashboard JSON files under root/dashboards
// matching glob.
func readDashboards(t *testing.T, root, glob string) []dashboards.Dashboard {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(root, "dashboards", glob))
	out := make([]dashboards.Dashboard, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := dashboards.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// run evaluates the query; it returns why it fails, or "".
func (c panelCheck) run(ctx context.Context, prom *promtest.Server) string {
	v, err := prom.Query(ctx, c.expr)
	if err != nil {
		return c.where + ": query failed: " + err.Error() + "\n  " + c.expr
	}
	if !c.needData {
		return ""
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return c.where + ": result is a " + v.Type().String() + ", want a vector\n  " + c.expr
	}
	if len(vec) == 0 {
		return c.where + ": no data\n  " + c.expr
	}
	for _, smp := range vec {
		for _, l := range c.legend {
			if smp.Metric[model.LabelName(l)] == "" {
				return c.where + ": legend names {{" + l + "}} but series " + smp.Metric.String() + " has no such label\n  " + c.expr
			}
		}
	}
	return ""
}

// checkVariables: every label_values variable lists this deployment's values.
func checkVariables(ctx context.Context, t *testing.T, root string, prom *promtest.Server, vars map[string]string) {
	t.Helper()
	for _, d := range readDashboards(t, root, "*.json") {
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			sel, label, ok := dashboards.LabelValuesQuery(v.QueryString())
			if !ok {
				t.Errorf("%s: variable %s: %q is not label_values(selector, label)", d.Title, v.Name, v.QueryString())
				continue
			}
			sel, err := dashboards.Expand(sel, vars)
			if err != nil {
				t.Errorf("%s: variable %s: %v", d.Title, v.Name, err)
				continue
			}
			got, _, _, err := prom.API.LabelValues(ctx, label, []string{sel}, time.Now().Add(-time.Hour), time.Now())
			if err != nil {
				t.Errorf("%s: variable %s: %v", d.Title, v.Name, err)
				continue
			}
			if !slices.Contains(got, model.LabelValue(vars[v.Name])) {
				t.Errorf("%s: variable %s = label_values(%s, %s) lists %v, want %q among them", d.Title, v.Name, sel, label, got, vars[v.Name])
			}
		}
	}
}

// checkRules: Prometheus loaded every rule of the file, each expression
// evaluates through the query API, and each rule evaluated without error.
func checkRules(ctx context.Context, t *testing.T, root string, prom *promtest.Server) {
	t.Helper()
	groups, err := dashboards.ReadRules(filepath.Join(root, dashboards.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			want[r.Alert+r.Record] = true
			if _, err := prom.Query(ctx, r.Expr); err != nil {
				t.Errorf("rule %s: expression does not evaluate: %v\n  %s", r.Alert+r.Record, err, r.Expr)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := prom.API.Rules(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		seen := map[string]bool{}
		for _, g := range res.Groups {
			for _, r := range g.Rules {
				switch r := r.(type) {
				case v1.AlertingRule:
					seen[r.Name] = true
					if r.LastEvaluation.IsZero() || r.Health != v1.RuleHealthGood {
						problems = append(problems, r.Name+": health "+string(r.Health)+" "+r.LastError)
					}
				case v1.RecordingRule:
					seen[r.Name] = true
					if r.LastEvaluation.IsZero() || r.Health != v1.RuleHealthGood {
						problems = append(problems, r.Name+": health "+string(r.Health)+" "+r.LastError)
					}
				}
			}
		}
		for name := range want {
			if !seen[name] {
				problems = append(problems, name+": not loaded by Prometheus")
			}
		}
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("rules in Prometheus:\n  %s", strings.Join(problems, "\n  "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkMetricsLint runs `promtool check metrics` on the exposition.
func checkMetricsLint(t *testing.T, text string) {
	t.Helper()
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics on /metrics: %v\n%s", err, out)
	}
}

// exportedAreas lists the feature areas of the redlane_* metric families
// in an exposition.
func exportedAreas(text string) map[string]bool {
	areas := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			if strings.HasPrefix(name, "redlane_") {
				areas[dashboards.Area(name)] = true
			}
		}
	}
	return areas
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
