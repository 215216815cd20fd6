// Command redlane-load measures Redlane's chat fan-out: it opens N WebSocket
// clients spread over several Redlane instances, reports the servers'
// memory per idle connection, then publishes at a fixed rate and reports
// delivered messages per second and publish-to-receive latency.
//
//	redlane-load -targets http://127.0.0.1:8001,http://127.0.0.1:8002 -clients 1000 -rate 100 -duration 20s
//
// With -kind centrifugo it gives Centrifugo the identical workload (see
// adapter.go), so the two can be compared in one run
// (tools/bench/centrifugo.sh).
//
// It only talks to the targets it is given (loopback in the scripts), and
// stops by itself after -duration.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	targets  []string
	clients  int
	rooms    int
	rate     int
	duration time.Duration
	settle   time.Duration
	dialRate int
	size     int

	kind      string // redlane or centrifugo
	srv       server
	publishTo int   // index of the target every publish goes to, -1: round-robin
	pids      []int // the targets' process ids: RSS and CPU from /proc
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "redlane-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("redlane-load", flag.ContinueOnError)
	var o options
	targets := fs.String("targets", "http://127.0.0.1:8000", "comma-separated Redlane base URLs; clients are spread round-robin")
	fs.IntVar(&o.clients, "clients", 1000, "WebSocket clients to open")
	fs.IntVar(&o.rooms, "rooms", 1, "rooms the clients are spread over (messages go to every room in turn)")
	fs.IntVar(&o.rate, "rate", 100, "messages published per second in total (0: idle test only)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long to publish")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after connecting before reading server memory (>= 2m: the runtime's periodic GC has run; >= 4m: twice, so sync.Pool caches of handshake buffers are gone too)")
	fs.IntVar(&o.dialRate, "dial-rate", 2000, "new connections per second")
	fs.IntVar(&o.size, "size", 100, "message text size in bytes (at least 40)")
	fs.StringVar(&o.kind, "kind", "redlane", "server type: redlane, or centrifugo (JSON protocol on /connection/websocket, publishes through /api/publish)")
	apiKey := fs.String("api-key", "", "Centrifugo's HTTP API key (http_api.key)")
	fs.IntVar(&o.publishTo, "publish-to", -1, "index in -targets of the instance every message is published to (-1: round-robin over all)")
	pids := fs.String("pids", "", "comma-separated process ids of the targets, in their order: RSS and CPU time are read from /proc instead of /metrics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.targets = strings.Split(*targets, ",")
	if *pids != "" {
		for _, p := range strings.Split(*pids, ",") {
			pid, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("-pids: %w", err)
			}
			o.pids = append(o.pids, pid)
		}
		if len(o.pids) != len(o.targets) {
			return fmt.Errorf("-pids names %d processes for %d targets", len(o.pids), len(o.targets))
		}
	}
	if o.publishTo >= len(o.targets) {
		return fmt.Errorf("-publish-to %d: there are %d targets", o.publishTo, len(o.targets))
	}
	var err error
	if o.srv, err = newServer(o.kind, *apiKey); err != nil {
		return err
	}
	if o.clients < 1 || o.rooms < 1 || o.rate < 0 || o.size < 40 {
		return fmt.Errorf("need clients >= 1, rooms >= 1, rate >= 0, size >= 40")
	}
	raiseFileLimit(out, o.clients)
	return loadTest(ctx, o, out)
}

// raiseFileLimit lifts the soft open-files limit to the hard one: each
// client is a socket.
func raiseFileLimit(out io.Writer, clients int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if int(lim.Cur) < clients+100 {
		fmt.Fprintf(out, "warning: open-files limit %d is below %d clients; raise it (ulimit -n)\n", lim.Cur, clients)
	}
}
