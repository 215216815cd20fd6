package k8s

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/redlane/redlane/internal/redistest"
)

// TestPrometheusRules: the chart's PrometheusRule carries exactly the groups
// of dashboards/alerts/redlane.rules.yaml, promtool accepts them, and the
// rule unit tests of that file pass against the rendered rules.
func TestPrometheusRules(t *testing.T) {
	tools := RequireTools(t)
	redistest.Require(t, "promtool")
	objs := renderObjects(t, tools, valuesCase{Name: "monitoring", Files: []string{ChartDir() + "/ci/monitoring-values.yaml"}})
	rules := Find(objs, "PrometheusRule", "")
	if len(rules) != 1 {
		t.Fatalf("want one PrometheusRule, got %d", len(rules))
	}
	rendered := rules[0].Map("spec")

	src := filepath.Join(RepoRoot(), "dashboards", "alerts")
	raw, err := os.ReadFile(filepath.Join(src, "redlane.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(rendered["groups"]), normalize(file["groups"])) {
		t.Fatal("the PrometheusRule's groups differ from dashboards/alerts/redlane.rules.yaml (run make sync-dashboards)")
	}

	dir := t.TempDir()
	b, err := yaml.Marshal(rendered)
	if err != nil {
		t.Fatal(err)
	}
	// The unit tests name their rule file redlane.rules.yaml: give them the rendered one.
	if err := os.WriteFile(filepath.Join(dir, "redlane.rules.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(src, "redlane.rules.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "redlane.rules.test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := (Cmd{Bin: "promtool", Args: []string{"check", "rules", "redlane.rules.yaml"}, Dir: dir}).Must(t); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	if out := (Cmd{Bin: "promtool", Args: []string{"test", "rules", "redlane.rules.test.yaml"}, Dir: dir}).Must(t); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}
}

// normalize round-trips a YAML value so maps decoded by different paths
// compare equal.
func normalize(v any) any {
	b, _ := yaml.Marshal(v)
	var out any
	_ = yaml.Unmarshal(b, &out)
	return out
}
