package cache

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/telemetry"
)

// TestFillLeasesNameTheirHolder: with tracing on, the lease of a fill,
// single or batched, holds the filler's traceparent after its token, so a
// caller on another pod that waits for it can link to the fill.
func TestFillLeasesNameTheirHolder(t *testing.T) {
	for _, be := range redistest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			rc, rc2 := be.Open(t)
			c := newCache(t, rc, nil)
			c.UseTracing(&telemetry.Tracing{Provider: sdktrace.NewTracerProvider()})
			o := newOrigin(10)
			o.delay = 300 * time.Millisecond
			ns := c.Namespace("user", o.load)
			for _, batch := range []bool{false, true} {
				ctx, span := c.tracer.Start(context.Background(), "caller")
				want := " " + telemetry.Traceparent(ctx)
				id := "1"
				if batch {
					id = "2"
				}
				done := make(chan error, 1)
				go func() {
					var err error
					if batch {
						_, err = c.GetMany(ctx, ns, []string{"2", "3"})
					} else {
						_, err = c.Get(ctx, ns, id)
					}
					done <- err
				}()
				var lease string
				for deadline := time.Now().Add(5 * time.Second); lease == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
					lease, _ = rc2.Get(context.Background(), c.k.lease("user:"+id)).Result()
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				span.End()
				if !strings.HasSuffix(lease, want) || len(lease) <= len(want) {
					t.Errorf("batch %v: lease %q, want a token then%s", batch, lease, want)
				}
			}
		})
	}
}
