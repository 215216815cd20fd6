package dashboards

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// RulesFile is the alerting rules file, relative to the repository root.
const RulesFile = "dashboards/alerts/redlane.rules.yaml"

// Rule is one alerting or recording rule of a Prometheus rule file.
type Rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// RuleGroup is one group of a rule file.
type RuleGroup struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// ReadRules parses a Prometheus rule file (the tests read the checked-in
// file, never a copy).
func ReadRules(path string) ([]RuleGroup, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Groups []RuleGroup `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return f.Groups, nil
}
