package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// docsEnumLabels are the labels whose values form a fixed set, each of which
// docs/metrics.md must name; the others (route, node, queue, policy, …) are
// open-ended.
var docsEnumLabels = map[string]bool{
	"check": true, "result": true, "via": true, "reason": true, "outcome": true,
	"state": true, "mode": true, "kind": true, "role": true, "cache_namespace": true,
}

// checkMetricsDocumented fails for every redlane_ metric in exposition that
// docs/metrics.md does not list, and for every value of a fixed-set label
// that neither its row nor its section names.
func checkMetricsDocumented(t *testing.T, doc, exposition string) {
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	// A label value is documented when the metric's row or its section
	// (the table of its feature) names it.
	rows := map[string]string{} // metric name -> its table row
	sections := map[string]*strings.Builder{}
	section := &strings.Builder{}
	name := regexp.MustCompile("`(redlane_[a-z_{},]+)`")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "#") {
			section = &strings.Builder{}
		}
		section.WriteString(l + "\n")
		if !strings.HasPrefix(l, "|") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(l, -1) {
			for _, n := range expandBraces(m[1]) {
				rows[n] += l
				sections[n] = section
			}
		}
	}
	series := regexp.MustCompile(`^(redlane_\w+?)(_bucket|_sum|_count)?(\{(.*)\})? `)
	label := regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
	seen := map[string]bool{}
	for _, l := range strings.Split(exposition, "\n") {
		m := series.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		metric := m[1]
		if _, ok := rows[metric]; !ok && m[2] != "" {
			metric += m[2] // a counter that happens to end in _count, say
		}
		row, ok := rows[metric]
		if !ok {
			if !seen[metric] {
				t.Errorf("%s is served but not listed in docs/metrics.md", metric)
				seen[metric] = true
			}
			continue
		}
		for _, lv := range label.FindAllStringSubmatch(m[4], -1) {
			key := metric + "{" + lv[1] + "=" + lv[2] + "}"
			named := strings.Contains(row, "`"+lv[2]+"`") || strings.Contains(sections[metric].String(), "`"+lv[2]+"`")
			if docsEnumLabels[lv[1]] && !named && !seen[key] {
				t.Errorf("%s: label %s=%q is served but docs/metrics.md does not name it", metric, lv[1], lv[2])
				seen[key] = true
			}
		}
	}
}

// expandBraces expands a{b,c}d into abd and acd.
func expandBraces(s string) []string {
	i := strings.IndexByte(s, '{')
	j := strings.IndexByte(s, '}')
	if i < 0 || j < i {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[i+1:j], ",") {
		out = append(out, expandBraces(s[:i]+alt+s[j+1:])...)
	}
	return out
}
