package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	if p50 := h.quantile(0.50); p50 < 50*time.Millisecond || p50 > 52*time.Millisecond {
		t.Errorf("p50 = %s", p50)
	}
	if p99 := h.quantile(0.99); p99 < 99*time.Millisecond || p99 > 101*time.Millisecond {
		t.Errorf("p99 = %s", p99)
	}
	if h.max() != 100*time.Millisecond {
		t.Errorf("max = %s", h.max())
	}
	h.add(time.Hour) // beyond the last bucket: counted there, max exact
	if h.max() != time.Hour {
		t.Errorf("max = %s", h.max())
	}
}

func TestServerHistogramDelta(t *testing.T) {
	before := serverHist{bounds: []float64{0.001, 0.01, 1e9}, cum: []float64{10, 10, 10}, count: 10}
	after := serverHist{bounds: []float64{0.001, 0.01, 1e9}, cum: []float64{10, 100, 110}, count: 110}
	d := after.minus(before)
	if d.count != 100 || d.quantile(0.5) != "10ms" || d.quantile(0.99) != "+Inf" {
		t.Fatalf("delta %+v: p50 %s p99 %s", d, d.quantile(0.5), d.quantile(0.99))
	}
}

func TestReadStatsAndLatencyInOneScrape(t *testing.T) {
	metrics := `# HELP go_goroutines x
go_goroutines 12
process_cpu_seconds_total 1.5
redlane_realtime_delivery_latency_seconds_bucket{le="0.001"} 3
redlane_realtime_delivery_latency_seconds_bucket{le="0.01"} 8
redlane_realtime_delivery_latency_seconds_bucket{le="+Inf"} 9
redlane_realtime_delivery_latency_seconds_count 9
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, metrics) }))
	defer srv.Close()
	stats, err := readAll(context.Background(), []string{srv.URL, srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if s := stats[0]; s.goroutines != 12 || s.cpu != 1.5 || s.latency.count != 9 || len(s.latency.bounds) != 3 || s.latency.bounds[2] < 1e9 {
		t.Fatalf("stats %+v", s)
	}
	sum := sumLatency(stats)
	if sum.count != 18 || sum.cum[1] != 16 || stats[0].latency.cum[1] != 8 {
		t.Fatalf("sum %+v (first target's own %+v)", sum, stats[0].latency)
	}
}
