package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// histogram counts latencies in 50 µs buckets up to 10 s, lock-free, so a
// thousand readers can record without contending.
type histogram struct {
	buckets [200001]atomic.Int64
	maxNS   atomic.Int64
}

const bucketWidth = 50 * time.Microsecond

func newHistogram() *histogram { return &histogram{} }

func (h *histogram) add(d time.Duration) {
	i := int(d / bucketWidth)
	if i < 0 {
		i = 0
	}
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i].Add(1)
	for {
		m := h.maxNS.Load()
		if int64(d) <= m || h.maxNS.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (h *histogram) reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
	h.maxNS.Store(0)
}

func (h *histogram) quantile(q float64) time.Duration {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := int64(q * float64(total))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen > rank {
			return time.Duration(i+1) * bucketWidth
		}
	}
	return h.max()
}

func (h *histogram) max() time.Duration { return time.Duration(h.maxNS.Load()) }

// serverStats are the numbers read from a target's /metrics.
type serverStats struct {
	heapInuse, stackInuse, rss, goroutines float64
	liveHeap, gcs                          float64 // live heap after the last GC, GCs so far
	cpu                                    float64 // process_cpu_seconds_total
	latency                                serverHist
}

func readAll(ctx context.Context, targets []string) ([]serverStats, error) {
	out := make([]serverStats, len(targets))
	for i, t := range targets {
		s, err := readStats(ctx, t)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// scrape reads target's /metrics and calls fn with each sample line's
// name (with labels) and value.
func scrape(ctx context.Context, target string, fn func(key string, v float64)) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", target+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reading %s/metrics: %w", target, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			fn(key, v)
		}
	}
	return sc.Err()
}

// latencyMetric is the servers' publish-to-write histogram.
const latencyMetric = "redlane_realtime_delivery_latency_seconds"

func readStats(ctx context.Context, target string) (serverStats, error) {
	var s serverStats
	err := scrape(ctx, target, func(key string, v float64) {
		switch key {
		case "go_memstats_heap_inuse_bytes":
			s.heapInuse = v
		case "go_memstats_stack_inuse_bytes":
			s.stackInuse = v
		case "process_resident_memory_bytes":
			s.rss = v
		case "go_goroutines":
			s.goroutines = v
		case "go_gc_heap_live_bytes":
			s.liveHeap = v
		case "go_gc_duration_seconds_count":
			s.gcs = v
		case "process_cpu_seconds_total":
			s.cpu = v
		case latencyMetric + "_count":
			s.latency.count = v
		default:
			if le, ok := strings.CutPrefix(key, latencyMetric+`_bucket{le="`); ok {
				b, err := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64)
				if err != nil {
					b = 1e9 // +Inf
				}
				s.latency.bounds = append(s.latency.bounds, b)
				s.latency.cum = append(s.latency.cum, v)
			}
		}
	})
	return s, err
}

// serverHist is a delivery latency histogram as /metrics shows it.
type serverHist struct {
	bounds []float64 // seconds, ascending; cumulative counts below
	cum    []float64
	count  float64
}

// sumLatency adds up the targets' latency histograms.
func sumLatency(stats []serverStats) serverHist {
	var sum serverHist
	for _, s := range stats {
		h := s.latency
		if sum.bounds == nil {
			sum = serverHist{bounds: h.bounds, cum: append([]float64(nil), h.cum...), count: h.count}
			continue
		}
		for i := range sum.cum {
			if i < len(h.cum) {
				sum.cum[i] += h.cum[i]
			}
		}
		sum.count += h.count
	}
	return sum
}

func (h serverHist) minus(o serverHist) serverHist {
	out := serverHist{bounds: h.bounds, cum: make([]float64, len(h.cum)), count: h.count - o.count}
	for i := range h.cum {
		out.cum[i] = h.cum[i]
		if i < len(o.cum) {
			out.cum[i] -= o.cum[i]
		}
	}
	return out
}

func (h serverHist) quantile(q float64) string {
	if h.count <= 0 {
		return "n/a"
	}
	for i, c := range h.cum {
		if c >= q*h.count {
			if h.bounds[i] >= 1e9 {
				return "+Inf"
			}
			return time.Duration(h.bounds[i] * float64(time.Second)).String()
		}
	}
	return "+Inf"
}

// stats reads every target's /metrics and, with -pids, takes RSS and CPU
// time from /proc instead: the same source for any server, whatever its
// metrics call them.
func (o options) stats(ctx context.Context) ([]serverStats, error) {
	out, err := readAll(ctx, o.targets)
	if err != nil || len(o.pids) == 0 {
		return out, err
	}
	for i, pid := range o.pids {
		rss, cpu, err := procStats(pid)
		if err != nil {
			return nil, err
		}
		out[i].rss, out[i].cpu = rss, cpu
	}
	return out, nil
}

func rssSource(o options) string {
	if len(o.pids) > 0 {
		return "proc"
	}
	return "metrics"
}

// procStats is a process's resident set (bytes, VmRSS of /proc/PID/status)
// and CPU time (seconds, utime+stime of /proc/PID/stat).
func procStats(pid int) (rss, cpu float64, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			rss = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return rss, (ut + st) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100
