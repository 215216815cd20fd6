package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Panel is one panel of a dashboard JSON as Grafana reads it: what the
// tests check (conventions, and data in a real Prometheus).
type Panel struct {
	ID          int      `json:"id"`
	Type        string   `json:"type"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Datasource  *ref     `json:"datasource"`
	GridPos     gridPos  `json:"gridPos"`
	Targets     []Target `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit  string `json:"unit"`
			Links []Link `json:"links"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

// Link is a panel's data link (from a data point or exemplar).
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Target is one PromQL query of a panel.
type Target struct {
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	RefID        string `json:"refId"`
	Datasource   *ref   `json:"datasource"`
	// Exemplar asks Grafana for the exemplars of the query's histograms.
	Exemplar bool `json:"exemplar"`
}

type ref struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct{ H, W, X, Y int }

// Variable is one template variable.
type Variable struct {
	Type     string `json:"type"`
	Name     string `json:"name"`
	Query    any    `json:"query"`
	AllValue string `json:"allValue"`
}

// Dashboard is the part of a dashboard JSON the tests read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Parse reads a dashboard JSON.
func Parse(b []byte) (Dashboard, error) {
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("parsing dashboard: %w", err)
	}
	return d, nil
}

var metricName = regexp.MustCompile(`\b((?:redlane|process|go)_[a-z0-9_]+)\b`)

// Metrics lists the metric names an expression reads, in order of first use.
func Metrics(expr string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range metricName.FindAllStringSubmatch(expr, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// Area is the feature a metric belongs to: the word after redlane_
// (redlane_cache_requests_total is "cache"; redlane_sessions_active is
// "session"), or "process"/"go" for the runtime's own metrics.
func Area(metric string) string {
	rest, ok := strings.CutPrefix(metric, "redlane_")
	if !ok {
		area, _, _ := strings.Cut(metric, "_")
		return area
	}
	area, _, _ := strings.Cut(rest, "_")
	if area == "sessions" {
		return "session"
	}
	return area
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// LabelValuesQuery splits a Grafana label_values(selector, label) variable
// query into the series selector and the label.
func LabelValuesQuery(q string) (selector, label string, ok bool) {
	m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// QueryString is a variable's query as a string (Grafana stores either a
// string or an object with a "query" field).
func (v Variable) QueryString() string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

var varRef = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?`)

// Expand replaces Grafana variables ($name or ${name}) in a query with
// concrete values, as Grafana would before sending it to Prometheus. It
// fails on any variable it has no value for.
func Expand(expr string, values map[string]string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(expr, func(m string) string {
		name := varRef.FindStringSubmatch(m)[1]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for variable(s) %v in %s", missing, expr)
	}
	return out, nil
}
