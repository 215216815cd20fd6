package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Observe records v on o, with the trace id of sc as the exemplar when sc
// is sampled: the OpenMetrics exposition of /metrics then links a latency
// bucket to one real trace (Grafana shows it as a dot with a link to
// Jaeger). Unsampled or absent span contexts (tracing off) cost nothing more
// than a plain Observe.
func Observe(o prometheus.Observer, v float64, sc trace.SpanContext) {
	if sc.IsSampled() {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	o.Observe(v)
}
