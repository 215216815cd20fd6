package realtime

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/telemetry"
)

// Trace context crosses Redis inside each message: the publisher's W3C
// traceparent (55 bytes, no tracestate or baggage) rides in the stream
// entry (field c) and on the channel payload's time line (keys.go). Every
// instance that fans the message out starts a chat.fanout span as a child
// of the publisher's chat.publish span, so one trace holds the HTTP or
// WebSocket publish and the delivery on every pod. Clients never see it: a
// frame is built from the body alone (message.go). With tracing off
// (tracer nil) no span is started and no traceparent is written.

// startPublish starts the chat.publish span and returns the traceparent
// to store with the message. An HTTP publish is a child of its request's
// span; a WebSocket message starts a trace of its own (the socket's
// upgrade request lasts as long as the socket), linked to the socket's span.
func (h *Hub) startPublish(ctx context.Context, room, via string) (context.Context, trace.Span, string) {
	if h.tracer == nil {
		return ctx, nil, ""
	}
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "redis"),
			attribute.String("messaging.destination.name", room), attribute.String("chat.via", via)),
	}
	if via == "ws" {
		opts = append(opts, trace.WithNewRoot())
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	ctx, span := h.tracer.Start(ctx, "chat.publish "+room, opts...)
	return ctx, span, telemetry.Traceparent(ctx)
}

// endPublish ends the span startPublish started (nil when tracing is off).
func endPublish(span trace.Span, res published, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(attribute.String("messaging.message.id", res.ID), attribute.Bool("chat.duplicate", res.Duplicate))
	}
	span.End()
}

// startFanout starts the chat.fanout span of e on this instance, a child of
// the publisher's span when e carries its traceparent, and records its
// span context on e for the delivery latency exemplars.
func (h *Hub) startFanout(room string, e *envelope, members int) trace.Span {
	if h.tracer == nil {
		return nil
	}
	ctx := telemetry.RemoteContext(context.Background(), e.tp)
	_, span := h.tracer.Start(ctx, "chat.fanout "+room,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "redis"),
			attribute.String("messaging.destination.name", room), attribute.String("messaging.message.id", e.idStr),
			attribute.String("chat.pod", h.pod), attribute.Int("chat.members", members)))
	e.span = span.SpanContext()
	return span
}

// endFanout records what the fan-out did: frames queued (delivered to the
// socket's writer), frames buffered behind a history replay, and members
// dropped as slow consumers.
func endFanout(span trace.Span, n fanoutCounts) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.Int("chat.delivered", n.queued), attribute.Int("chat.buffered", n.buffered),
		attribute.Int("chat.dropped_slow_consumer", n.dropped))
	span.End()
}

// fanoutCounts tallies the outcomes of one message's fan-out.
type fanoutCounts struct{ queued, buffered, dropped int }

func (n *fanoutCounts) add(r deliverResult) {
	switch r {
	case delivQueued:
		n.queued++
	case delivBuffered:
		n.buffered++
	case delivDropped:
		n.dropped++
	}
}
