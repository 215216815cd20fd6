package dashboards

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// ds points every panel and variable at the dashboard's datasource variable,
// so one import works against any Prometheus.
var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// scope is the matchers every Redlane series is filtered by: the namespace,
// job and instance variables. With "All" they are ".*", which also matches
// a series without the label (a Prometheus outside Kubernetes has no
// namespace label).
const scope = `namespace=~"$namespace", job=~"$job", instance=~"$instance"`

// nodeScope adds the Redis dashboard's node variable, for INFO series.
const nodeScope = scope + `, node=~"$node"`

// sel is metric{scope, matchers...}.
func sel(metric string, matchers ...string) string { return selIn(scope, metric, matchers...) }

// nodeSel is metric{nodeScope, matchers...}.
func nodeSel(metric string, matchers ...string) string { return selIn(nodeScope, metric, matchers...) }

func selIn(scope, metric string, matchers ...string) string {
	return metric + "{" + strings.Join(append([]string{scope}, matchers...), ", ") + "}"
}

// rate is rate(metric{scope, matchers...}[$__rate_interval]).
func rate(metric string, matchers ...string) string { return rateOf(sel(metric, matchers...)) }

func rateOf(selector string) string { return "rate(" + selector + "[$__rate_interval])" }

// aggr is op by (by) (expr), or op(expr) when by is empty.
func aggr(op, by, expr string) string {
	if by == "" {
		return op + "(" + expr + ")"
	}
	return op + " by (" + by + ") (" + expr + ")"
}

// sumRate is sum by (by) (rate(...)); by may be empty.
func sumRate(by, metric string, matchers ...string) string {
	return aggr("sum", by, rate(metric, matchers...))
}

// orZero is the summed rate of the series matching part, or 0 for groups
// with traffic but no such series, so a healthy system draws a flat zero
// instead of "No data".
func orZero(by, metric string, part ...string) string {
	return sumRate(by, metric, part...) + " or 0 * " + sumRate(by, metric)
}

// ratio is the part of a counter's rate matching part over its whole rate,
// grouped by `by` (0 rather than no data where nothing matches part).
func ratio(by, metric string, part ...string) string {
	return "(" + orZero(by, metric, part...) + ") / " + sumRate(by, metric)
}

// quantile is the q-quantile of a histogram over $__rate_interval, by labels.
func quantile(q float64, by, histogram string, matchers ...string) string {
	le := "le"
	if by != "" {
		le += ", " + by
	}
	return fmt.Sprintf("histogram_quantile(%s, %s)",
		strconv.FormatFloat(q, 'f', -1, 64), aggr("sum", le, rate(histogram+"_bucket", matchers...)))
}

// p50p99 are the median and 99th percentile of a histogram by labels, as
// two queries legended "p50" and "p99" (after {{by}} when by is set).
func p50p99(by, histogram string) []query {
	legend := ""
	if by != "" {
		legend = "{{" + by + "}} "
	}
	return []query{
		q(quantile(0.5, by, histogram), legend+"p50"),
		q(quantile(0.99, by, histogram), legend+"p99"),
	}
}

// query is one PromQL target and its legend; exemplar asks Grafana to
// fetch the histogram's exemplars (trace ids) with it.
type query struct {
	expr, legend string
	exemplar     bool
}

func q(expr, legend string) query { return query{expr: expr, legend: legend} }

// withExemplars marks latency queries over a histogram whose observations
// carry trace ids (telemetry.Observe): Grafana draws each exemplar as a dot
// on the graph.
func withExemplars(qs ...query) []query {
	for i := range qs {
		qs[i].exemplar = true
	}
	return qs
}

// traced adds the data link from a latency panel's exemplars to the trace in
// the tracing datasource (the $tracing variable, a Jaeger datasource):
// clicking a dot opens that trace in Explore.
func traced(p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return p.DataLinks([]cog.Builder[dashboard.DashboardLink]{
		dashboard.NewDashboardLinkBuilder("Trace in Jaeger").
			Type(dashboard.DashboardLinkTypeLink).
			Url(traceLink).
			TargetBlank(true),
	})
}

// traceLink opens the exemplar's trace in Grafana Explore on the $tracing
// datasource (a Jaeger query by trace id).
const traceLink = `/explore?left={"datasource":"${tracing}","queries":[{"refId":"A","datasource":{"type":"jaeger","uid":"${tracing}"},"queryType":"","query":"${__data.fields.trace_id}"}],"range":{"from":"now-1h","to":"now"}}`

func targets(qs []query) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, x := range qs {
		out[i] = prometheus.NewDataqueryBuilder().
			Datasource(ds).
			Expr(x.expr).
			LegendFormat(x.legend).
			RefId(string(rune('A' + i))).
			Range()
		if x.exemplar {
			out[i].(*prometheus.DataqueryBuilder).Exemplar(true)
		}
	}
	return out
}

// graph is a time series panel, half a row wide.
func graph(title, unit, description string, qs ...query) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(ds).
		Unit(unit).
		Targets(targets(qs)).
		Span(12).
		Height(8).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// single is a stat panel showing the last value of each series, a quarter
// row wide.
func single(title, unit, description string, qs ...query) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(ds).
		Unit(unit).
		Targets(targets(qs)).
		Span(6).
		Height(4).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		TextMode(common.BigValueTextModeAuto).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
}

// steps are thresholds: base colour, then colour from each value up.
func steps(base string, at ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{{Value: nil, Color: base}}
	for i := 0; i+1 < len(at); i += 2 {
		v := at[i].(float64)
		s = append(s, dashboard.Threshold{Value: &v, Color: at[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

// states maps exact values to a text and colour ("1", "UP", "green", ...).
func states(kv ...string) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for i := 0; i+2 < len(kv); i += 3 {
		idx := int32(i / 3)
		opts[kv[i]] = dashboard.ValueMappingResult{Text: cog.ToPtr(kv[i+1]), Color: cog.ToPtr(kv[i+2]), Index: &idx}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}
