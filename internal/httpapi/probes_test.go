package httpapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReadinessMetrics: redlane_ready follows the checks and draining, and
// each check has its own series, evaluated at scrape time.
func TestReadinessMetrics(t *testing.T) {
	var dbErr error
	p := NewProbes(time.Second, nil)
	p.AddReadiness("redis", func(context.Context) error { return nil })
	p.AddReadiness("database", func(context.Context) error { return dbErr })
	reg := prometheus.NewPedanticRegistry()
	p.RegisterMetrics(reg)

	want := func(ready, db string) string {
		return `
# HELP redlane_ready Whether this instance is ready (1) or not (0): every readiness check passes and it is not draining, as GET /readyz answers.
# TYPE redlane_ready gauge
redlane_ready ` + ready + `
# HELP redlane_ready_check_ok Whether each readiness check (redis, database, realtime) passes (1) or fails (0).
# TYPE redlane_ready_check_ok gauge
redlane_ready_check_ok{check="database"} ` + db + `
redlane_ready_check_ok{check="redis"} 1
`
	}
	for _, step := range []struct {
		name      string
		dbErr     error
		drain     bool
		ready, db string
	}{
		{"all checks pass", nil, false, "1", "1"},
		{"database fails", errors.New("connection refused"), false, "0", "0"},
		{"database back", nil, false, "1", "1"},
		{"draining", nil, true, "0", "1"},
	} {
		dbErr = step.dbErr
		if step.drain {
			p.SetDraining()
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want(step.ready, step.db))); err != nil {
			t.Errorf("%s: %v", step.name, err)
		}
	}
}
