package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// client is one load socket; it counts and times every message it reads.
type client struct {
	ws  *websocket.Conn
	srv server
	own *histogram // its target's: which instance the tail comes from
}

func loadTest(ctx context.Context, o options, out io.Writer) error {
	before, err := o.stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s targets: %s\nclients: %d over %d room(s)\n", o.kind, strings.Join(o.targets, ", "), o.clients, o.rooms)

	lat := newHistogram()
	lats := make([]*histogram, len(o.targets))
	for i := range lats {
		lats[i] = newHistogram()
	}
	var received atomic.Int64
	var wg sync.WaitGroup
	clients := make([]*client, 0, o.clients)
	defer func() {
		for _, c := range clients {
			c.ws.Close()
		}
		wg.Wait()
	}()
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	tick := time.NewTicker(time.Second / time.Duration(o.dialRate))
	start := time.Now()
	for i := 0; i < o.clients; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		target := o.targets[i%len(o.targets)]
		room := fmt.Sprintf("load-%d", i%o.rooms)
		ws, err := o.srv.join(ctx, dialer, target, room)
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		c := &client{ws: ws, srv: o.srv, own: lats[i%len(o.targets)]}
		clients = append(clients, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.read(lat, &received)
		}()
	}
	tick.Stop()
	fmt.Fprintf(out, "connected %d clients in %s\n", len(clients), time.Since(start).Round(time.Millisecond))
	connected, err := o.stats(ctx)
	if err != nil {
		return err
	}

	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.settle):
	}
	after, err := o.stats(ctx)
	if err != nil {
		return err
	}
	perTarget := float64(o.clients) / float64(len(o.targets))
	fmt.Fprintln(out, "\nmemory per idle connection (server side, delta from before connecting / connections on that server):")
	for i, t := range o.targets {
		b, a := before[i], after[i]
		fmt.Fprintf(out, "  %s: heap+stack %.1f KiB (heap %.1f, stacks %.1f), RSS %.1f KiB, goroutines %.2f per connection\n", t,
			(a.heapInuse+a.stackInuse-b.heapInuse-b.stackInuse)/perTarget/1024,
			(a.heapInuse-b.heapInuse)/perTarget/1024, (a.stackInuse-b.stackInuse)/perTarget/1024,
			(a.rss-b.rss)/perTarget/1024, (a.goroutines-b.goroutines)/perTarget)
		if a.gcs > connected[i].gcs {
			base := b.liveHeap
			if b.gcs == 0 {
				base = b.heapInuse // no GC yet: a fresh heap is nearly all live
			}
			fmt.Fprintf(out, "  %s: live heap after a GC + stacks: %.1f KiB per connection (live heap %.1f)\n", t,
				(a.liveHeap+a.stackInuse-base-b.stackInuse)/perTarget/1024, (a.liveHeap-base)/perTarget/1024)
		} else {
			fmt.Fprintf(out, "  %s: no GC ran between connecting and now (or before connecting); settle >= 2m gives the live-heap figure\n", t)
		}
	}
	var rss []string
	for i := range o.targets {
		rss = append(rss, fmt.Sprintf("%.2f", (after[i].rss-before[i].rss)/perTarget/1024))
	}
	// One line for scripts (tools/bench/centrifugo.sh): RSS delta per
	// socket in KiB on each target, from /proc when -pids is given.
	fmt.Fprintf(out, "idle-result kind=%s sockets=%d rss_kib_per_socket=%s rss_source=%s\n", o.kind, o.clients, strings.Join(rss, ","), rssSource(o))
	if o.rate == 0 {
		return nil
	}
	return publish(ctx, o, out, lat, lats, &received)
}

func waitJoined(ws *websocket.Conn) error {
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer ws.SetReadDeadline(time.Time{})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(`"type":"joined"`)) {
			return nil
		}
		if bytes.Contains(data, []byte(`"type":"error"`)) {
			return fmt.Errorf("join refused: %s", data)
		}
	}
}

// read times every message the socket gets with the publish time its text
// carries ("lt:<unix ns>:...", see publishTimes), and answers the frames
// the server wants answered.
func (c *client) read(lat *histogram, received *atomic.Int64) {
	buf := make([]byte, 4096) // reused: the tool must not be the bottleneck
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		n, err := io.ReadFull(r, buf)
		if err == nil { // the frame may be longer than buf: read the rest
			rest, rerr := io.ReadAll(r)
			if rerr != nil {
				return
			}
			buf = append(buf, rest...)
			n, err = len(buf), nil
		}
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return
		}
		data := buf[:n]
		now := time.Now().UnixNano()
		publishTimes(data, func(sent int64) {
			received.Add(1)
			lat.add(time.Duration(now - sent))
			c.own.add(time.Duration(now - sent))
		})
		if a := c.srv.answer(data); a != nil {
			if err := c.ws.WriteMessage(websocket.TextMessage, a); err != nil {
				return
			}
		}
	}
}

func publish(ctx context.Context, o options, out io.Writer, lat *histogram, lats []*histogram, received *atomic.Int64) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	lat.reset()
	for _, h := range lats {
		h.reset()
	}
	received.Store(0)
	interval := time.Second / time.Duration(o.rate)
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	pad := strings.Repeat("x", o.size)
	before, err := o.stats(ctx)
	if err != nil {
		return err
	}
	ownBefore := ownCPU()
	start := time.Now()
	n := int(o.duration / interval)
	// Message i is due at start+i*interval; a late loop catches up at once,
	// so a busy machine does not quietly lower the rate.
	for i := 0; i < n; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		target := o.targets[i%len(o.targets)]
		if o.publishTo >= 0 {
			target = o.targets[o.publishTo]
		}
		room := fmt.Sprintf("load-%d", i%o.rooms)
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := fmt.Sprintf("lt:%d:%d:", time.Now().UnixNano(), i)
			text += pad[:o.size-len(text)]
			if err := o.srv.publish(ctx, hc, target, room, text); err != nil {
				if failed.Add(1) == 1 {
					fmt.Fprintf(out, "first failed publish: %v\n", err)
				}
				return
			}
			sent.Add(1)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Let in-flight deliveries land.
	expected := sent.Load() * int64(o.clients) / int64(o.rooms)
	deadline := time.Now().Add(5 * time.Second)
	for received.Load() < expected && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := received.Load()
	fmt.Fprintf(out, "\npublished %d messages in %s (%.1f/s), %d failed\n", sent.Load(), elapsed.Round(time.Millisecond), float64(sent.Load())/elapsed.Seconds(), failed.Load())
	fmt.Fprintf(out, "delivered %d of %d expected (%.2f%%), %.0f messages/s\n", got, expected, 100*float64(got)/float64(max(expected, 1)), float64(got)/elapsed.Seconds())
	fmt.Fprintf(out, "publish-to-receive latency (at the clients): p50 %s  p90 %s  p99 %s  max %s\n",
		lat.quantile(0.50), lat.quantile(0.90), lat.quantile(0.99), lat.max())
	for i, t := range o.targets {
		fmt.Fprintf(out, "  clients of %s: p50 %s  p99 %s  max %s\n", t, lats[i].quantile(0.50), lats[i].quantile(0.99), lats[i].max())
	}
	// One line for scripts (tools/bench/centrifugo.sh); lost counts the
	// deliveries still missing 5 s after the last publish.
	fmt.Fprintf(out, "result kind=%s sent=%d failed=%d delivered=%d expected=%d lost=%d rate_per_s=%.0f p50_us=%d p99_us=%d max_us=%d\n",
		o.kind, sent.Load(), failed.Load(), got, expected, max(expected-got, 0), float64(got)/elapsed.Seconds(),
		lat.quantile(0.50).Microseconds(), lat.quantile(0.99).Microseconds(), lat.max().Microseconds())
	after, err := o.stats(ctx)
	if err != nil {
		return err
	}
	var cpu float64
	for i := range after {
		cpu += after[i].cpu - before[i].cpu
	}
	fmt.Fprintf(out, "server CPU: %.2f s over both servers, %.1f µs per delivered message (%.2f cores at this rate); this tool: %.2f cores\n",
		cpu, cpu/float64(max(got, 1))*1e6, cpu/elapsed.Seconds(), (ownCPU()-ownBefore)/elapsed.Seconds())
	d := sumLatency(after).minus(sumLatency(before))
	fmt.Fprintf(out, "publish-to-write latency (servers' redlane_realtime_delivery_latency_seconds, bucket upper bounds): p50 <= %s  p99 <= %s  (%d writes)\n",
		d.quantile(0.50), d.quantile(0.99), int64(d.count))
	for i, t := range o.targets {
		if d := sumLatency(after[i : i+1]).minus(sumLatency(before[i : i+1])); d.count > 0 {
			fmt.Fprintf(out, "  %s: p50 <= %s  p99 <= %s\n", t, d.quantile(0.50), d.quantile(0.99))
		}
	}
	return nil
}

// ownCPU is this process's user+system CPU time in seconds.
func ownCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
