package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
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

// serverStats are the process numbers read from a target's /metrics.
type serverStats struct {
	heapInuse, stackInuse, rss, goroutines float64
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

func readStats(ctx context.Context, target string) (serverStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", target+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return serverStats{}, fmt.Errorf("reading %s/metrics: %w", target, err)
	}
	defer resp.Body.Close()
	var s serverStats
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			s.heapInuse = v
		case "go_memstats_stack_inuse_bytes":
			s.stackInuse = v
		case "process_resident_memory_bytes":
			s.rss = v
		case "go_goroutines":
			s.goroutines = v
		}
	}
	return s, sc.Err()
}
