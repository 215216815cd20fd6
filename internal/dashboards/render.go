package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// File is one rendered dashboard: its file name under dashboards/ and JSON.
type File struct {
	Name string
	JSON []byte
}

// Render builds every dashboard and returns its JSON, in a stable order and
// byte-for-byte reproducible (the staleness test compares bytes).
func Render() ([]File, error) {
	var out []File
	for _, d := range []struct {
		file  string
		build func() (dashboard.Dashboard, error)
	}{
		{"redlane-overview.json", overview},
		{"redlane-redis.json", redis},
	} {
		db, err := d.build()
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", d.file, err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // keep PromQL's < and > readable
		if err := enc.Encode(db); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", d.file, err)
		}
		out = append(out, File{Name: d.file, JSON: buf.Bytes()})
	}
	return out, nil
}

// section is one row of a dashboard: a feature's panels, laid out left to
// right, top to bottom (widths of a line add up to 24).
type section struct {
	title  string
	panels []cog.Builder[dashboard.Panel]
}

func panels(p ...cog.Builder[dashboard.Panel]) []cog.Builder[dashboard.Panel] { return p }

// spec is what differs between dashboards.
type spec struct {
	uid, title, description string
	variables               []cog.Builder[dashboard.VariableModel]
	sections                []section
}

// build assembles a dashboard: shared settings, variables, a link to the
// other Redlane dashboards (carrying the variables and time range), and one
// row per section. Panel ids are assigned in order so the JSON is stable.
func build(s spec) (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder(s.title).
		Uid(s.uid).
		Description(s.description).
		Tags([]string{"redlane"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("Redlane dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"redlane"}).
			AsDropdown(false).
			IncludeVars(true).
			KeepTime(true)).
		Variables(s.variables)
	for _, sec := range s.sections {
		b.WithRow(dashboard.NewRowBuilder(sec.title))
		for _, p := range sec.panels {
			b.WithPanel(p)
		}
	}
	d, err := b.Build()
	if err != nil {
		return d, err
	}
	for i, p := range d.Panels {
		id := uint32(i + 1)
		switch {
		case p.Panel != nil:
			p.Panel.Id = &id
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
	return d, nil
}

// Variables: datasource, then namespace, job and instance, each narrowing
// the next. "All" is ".*" so a Prometheus without one of these labels (no
// namespace outside Kubernetes) still matches.
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Description("The Prometheus that scrapes Redlane's /metrics.").
		Type("prometheus")
}

func labelVariable(name, label, description, selector string, multi bool) *dashboard.QueryVariableBuilder {
	query := fmt.Sprintf("label_values(%s, %s)", selector, name)
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Description(description).
		Datasource(ds).
		Query(dashboard.StringOrMap{String: &query}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(multi).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr("All")},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")},
		})
}

// tracingVariable is the Jaeger datasource the latency panels' exemplars
// link to (docs/tracing.md).
func tracingVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("tracing").
		Label("Traces").
		Description("The Jaeger datasource holding Redlane's traces: latency exemplars link there.").
		Type("jaeger")
}

// exemplarNote ends the description of every panel with exemplars.
const exemplarNote = " Dots are exemplars: one traced request each (tracing on, docs/tracing.md); click one for its trace."

func standardVariables() []cog.Builder[dashboard.VariableModel] {
	return []cog.Builder[dashboard.VariableModel]{
		datasourceVariable(),
		tracingVariable(),
		labelVariable("namespace", "Namespace",
			"Kubernetes namespace of the Redlane pods (empty outside Kubernetes).",
			"redlane_build_info", false),
		labelVariable("job", "Job",
			"Scrape job: one Redlane deployment (with the chart's ServiceMonitor, the Service name).",
			`redlane_build_info{namespace=~"$namespace"}`, false),
		labelVariable("instance", "Instance",
			"Redlane pods (host:port of each scrape target).",
			`redlane_build_info{namespace=~"$namespace", job=~"$job"}`, true),
	}
}
