package queue

import (
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/telemetry"
)

// A task carries its enqueuer's trace context through Redis: Enqueue
// stores the W3C traceparent of its span in the task's state (meta field
// tp, never shown in the API's task views), and the instance that claims
// it and the one that acks it, any instance, start spans that are children
// of the enqueue span and link to their own request. Enqueue, every
// delivery and the ack are then one trace across processes. With tracing
// off (tracer nil) nothing is stored or read.

// UseTracing turns the spans on; call before serving.
func (b *Broker) UseTracing(t *telemetry.Tracing) {
	b.tracer = t.Tracer("github.com/redlane/redlane/internal/queue")
}

// startEnqueue starts the queue.enqueue span and returns the traceparent to
// store with the task ("" when tracing is off).
func (b *Broker) startEnqueue(ctx context.Context, queue string) (context.Context, trace.Span, string) {
	ctx, span := telemetry.StartSpan(ctx, b.tracer, "queue.enqueue "+queue, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "redis"), attribute.String("messaging.destination.name", queue)))
	return ctx, span, telemetry.CarriedTraceparent(ctx, b.tracer)
}

// taskSpans records one span per task under each task's enqueue span (op
// is claim or ack), linked to the span of ctx (the worker's request). The
// traceparents are read from the tasks' state in one round trip.
func (b *Broker) taskSpans(ctx context.Context, queue, op string, ids []string, attrs func(i int) []attribute.KeyValue) {
	if b.tracer == nil || len(ids) == 0 {
		return
	}
	raw, err := b.rc.HMGet(ctx, b.keys.of(queue)[7], ids...).Result()
	if err != nil {
		return // the spans are lost, the task is not
	}
	link := trace.LinkFromContext(ctx)
	for i, v := range raw {
		s, _ := v.(string)
		var m struct {
			TP string `json:"tp"`
		}
		_ = json.Unmarshal([]byte(s), &m)
		parent, ok := telemetry.RemoteParent(m.TP)
		if !ok {
			continue
		}
		a := append([]attribute.KeyValue{attribute.String("messaging.system", "redis"),
			attribute.String("messaging.destination.name", queue), attribute.String("messaging.message.id", ids[i])}, attrs(i)...)
		_, span := b.tracer.Start(parent, "queue."+op+" "+queue,
			trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(link), trace.WithAttributes(a...))
		span.End()
	}
}

func deliveryIDs(ds []Delivery) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}
