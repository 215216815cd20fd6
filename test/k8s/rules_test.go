package k8s

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/redlane/redlane/internal/redistest"
)

// TestPrometheusRules: the chart's PrometheusRule is valid for promtool, and
// its alerts fire (and stay quiet) on synthetic series the way they say.
func TestPrometheusRules(t *testing.T) {
	tools := RequireTools(t)
	redistest.Require(t, "promtool")
	objs := renderObjects(t, tools, valuesCase{Name: "monitoring", Files: []string{ChartDir() + "/ci/monitoring-values.yaml"}})
	rules := Find(objs, "PrometheusRule", "")
	if len(rules) != 1 {
		t.Fatalf("want one PrometheusRule, got %d", len(rules))
	}
	dir := t.TempDir()
	b, err := yaml.Marshal(rules[0].Map("spec"))
	if err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := (Cmd{Bin: "promtool", Args: []string{"check", "rules", rulesFile}}).Must(t); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	// Series as the ServiceMonitor scrapes them: job = the Service name.
	const sel = `job="rel-redlane", namespace="redlane-test"`
	tests := `rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'redlane_redis_up{` + sel + `, pod="a", node="r-0:6379"}'
        values: '1 1 0 0 0 0'
      - series: 'redlane_redis_up{` + sel + `, pod="b", node="r-0:6379"}'
        values: '1 1 0 0 0 0'
      - series: 'redlane_redis_memory_used_bytes{` + sel + `, pod="a", node="r-0:6379"}'
        values: '95x20'
      - series: 'redlane_redis_memory_max_bytes{` + sel + `, pod="a", node="r-0:6379"}'
        values: '100x20'
      - series: 'redlane_http_requests_total{` + sel + `, pod="a", code="200"}'
        values: '0+90x20'
      - series: 'redlane_http_requests_total{` + sel + `, pod="a", code="503"}'
        values: '0+10x20'
    alert_rule_test:
      - eval_time: 1m
        alertname: RedlaneRedisDown
        exp_alerts: []
      - eval_time: 5m
        alertname: RedlaneRedisDown
        exp_alerts:
          - exp_labels: {severity: critical, namespace: redlane-test, node: "r-0:6379"}
            exp_annotations:
              summary: Redis node r-0:6379 is unreachable from Redlane
              description: Redlane has not reached Redis node r-0:6379 for 1 minute; sessions and locks fail closed (503).
      - eval_time: 15m
        alertname: RedlaneRedisMemoryNearMax
        exp_alerts:
          - exp_labels: {severity: warning, namespace: redlane-test, node: "r-0:6379"}
            exp_annotations:
              summary: Redis node r-0:6379 is near maxmemory
              description: Redis uses 95% of maxmemory; it evicts keys by its policy from here on.
      - eval_time: 15m
        alertname: RedlaneHighErrorRate
        exp_alerts:
          - exp_labels: {severity: critical, namespace: redlane-test}
            exp_annotations:
              summary: Redlane answers too many requests with 5xx
              description: 10% of Redlane responses are 5xx.
      - eval_time: 15m
        alertname: RedlaneRedisEvictions
        exp_alerts: []
`
	testFile := filepath.Join(dir, "rules_test.yaml")
	if err := os.WriteFile(testFile, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := (Cmd{Bin: "promtool", Args: []string{"test", "rules", testFile}, Dir: dir}).Must(t); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}
}
