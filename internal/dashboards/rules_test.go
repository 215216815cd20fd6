package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/redlane/redlane/internal/redistest"
)

var (
	rulesPath     = filepath.Join("..", "..", RulesFile)
	rulesTestPath = filepath.Join(filepath.Dir(rulesPath), "redlane.rules.test.yaml")
)

// TestRulesPromtool: the rule file passes `promtool check rules` and its
// unit tests pass `promtool test rules`.
func TestRulesPromtool(t *testing.T) {
	redistest.Require(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", rulesPath},
		{"test", "rules", rulesTestPath},
	} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestRulesCoverTheIssue: the alerts the issue asks for exist, each is
// labelled and described, and each has a unit test in which it fires.
func TestRulesCoverTheIssue(t *testing.T) {
	groups, err := ReadRules(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	fired := firedInTests(t)
	var alerts []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || len(r.Annotations["description"]) < 80 {
				t.Errorf("%s: needs a summary and a description that says what to do", r.Alert)
			}
			if r.For == "" {
				t.Errorf("%s: no 'for': one bad scrape would page someone", r.Alert)
			}
			if !fired[r.Alert] {
				t.Errorf("%s: no test in %s where it fires", r.Alert, filepath.Base(rulesTestPath))
			}
		}
	}
	for _, want := range []string{
		"RedlaneRedisDown", "RedlaneRedisMemoryNearMax", "RedlaneRedisEvicting", "RedlaneHighErrorRatio",
		"RedlaneCacheHitRateLow", "RedlaneInstanceNotReady", "RedlaneDeadLettersGrowing",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("rules lack %s", want)
		}
	}
}

// firedInTests lists the alerts some unit test expects to fire.
func firedInTests(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(rulesTestPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	fired := map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			}
		}
	}
	return fired
}
