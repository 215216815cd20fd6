package queue_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/redlane/redlane/internal/queue"
	"github.com/redlane/redlane/internal/redistest"
)

func TestDepthMetric(t *testing.T) {
	for _, b := range redistest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			rc1, rc2 := b.Open(t)
			ctx := context.Background()
			writer := queue.NewBroker(rc1, nil, nil)
			for i := 0; i < 3; i++ {
				if _, err := writer.Enqueue(ctx, "depth-a", json.RawMessage(`1`), queue.EnqueueOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := writer.Enqueue(ctx, "depth-b", json.RawMessage(`1`), queue.EnqueueOptions{Delay: time.Hour}); err != nil {
				t.Fatal(err)
			}
			if _, err := writer.Claim(ctx, "depth-a", "w1", 1, time.Minute, 0); err != nil {
				t.Fatal(err)
			}
			// Another pod, which never enqueued, reports the same depths.
			reg := prometheus.NewRegistry()
			queue.NewBroker(rc2, nil, nil).RegisterDepth(reg, time.Millisecond)
			want := `
redlane_queue_tasks{queue="depth-a",state="dead"} 0
redlane_queue_tasks{queue="depth-a",state="delayed"} 0
redlane_queue_tasks{queue="depth-a",state="in_flight"} 1
redlane_queue_tasks{queue="depth-a",state="ready"} 2
redlane_queue_tasks{queue="depth-b",state="dead"} 0
redlane_queue_tasks{queue="depth-b",state="delayed"} 1
redlane_queue_tasks{queue="depth-b",state="in_flight"} 0
redlane_queue_tasks{queue="depth-b",state="ready"} 0
`
			got, err := testutil.CollectAndFormat(reg, expfmt.TypeTextPlain, "redlane_queue_tasks")
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
				if !strings.Contains(string(got), line) {
					t.Errorf("missing %s in\n%s", line, got)
				}
			}
		})
	}
}
