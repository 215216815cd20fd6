package tracking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/redlane/redlane/internal/redisx"
)

// invalidateChannel is where RESP2 tracking redirects invalidations.
const invalidateChannel = "__redis__:invalidate"

// Why a generation of invalidation connections ended, beside a failed
// connection; each names its flush in redlane_tracking_flushes_total.
var (
	errUnsupported = errors.New("server does not support CLIENT TRACKING")
	errTopology    = errors.New("cluster masters changed")
	errServerFlush = errors.New("server flushed every key (FLUSHALL/FLUSHDB)")
)

// flushReason names the flush that follows the end of a generation.
func flushReason(err error) string {
	switch {
	case errors.Is(err, errTopology):
		return "topology"
	case errors.Is(err, errServerFlush):
		return "server"
	}
	return "disconnect"
}

// Run keeps one invalidation connection per master until ctx ends. A
// generation is the set of connections to the masters known at its start:
// it ends when one of them fails or the master set changes, and the next
// begins after a pause (50 ms, doubling to 2 s while they keep failing).
// Copies are served only while a generation has every connection confirmed.
func (t *Tracker) Run(ctx context.Context) error {
	if len(t.prefixes) == 0 {
		<-ctx.Done()
		return nil
	}
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		confirmed, err := t.generation(ctx)
		t.conns.Store(0)
		t.setLive(false, flushReason(err))
		if errors.Is(err, errUnsupported) {
			// Logged before Supported turns false, so whoever sees it false
			// finds the reason in the log (Run is the only writer of supNo).
			if t.supported.Load() != supNo {
				t.log.Warn("redis does not support CLIENT TRACKING (needs Redis 6+ and, with ACLs, +client|id +client|tracking +subscribe &__redis__:invalidate): near cache and session copies "+
					"fall back to TTL-bounded or per-request reads; checking again every 30s", "error", err.Error())
				t.supported.Store(supNo)
			}
			pause = 30 * time.Second
		} else if confirmed {
			pause = 50 * time.Millisecond
		}
		switch {
		case err == nil || ctx.Err() != nil || errors.Is(err, errUnsupported):
		case confirmed:
			t.log.Warn("tracking: lost; local copies flushed and bypassed until it is back", "reason", flushReason(err), "error", err.Error())
		default:
			t.log.Debug("tracking: invalidation connections not up yet", "error", err.Error())
		}
		t.rc.RefreshTopology(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		if !errors.Is(err, errUnsupported) {
			pause = min(pause*2, 2*time.Second)
		}
	}
	return nil
}

// generation connects to every master and serves until one connection
// ends, the masters change, or ctx ends; it reports whether every
// connection was confirmed at some point.
func (t *Tracker) generation(ctx context.Context) (bool, error) {
	nodes, err := t.masters(ctx)
	if err != nil {
		return false, err
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg        sync.WaitGroup
		ready     atomic.Int32
		allReady  atomic.Bool
		firstErr  = make(chan error, len(nodes)+1)
		confirmed = func() {
			if int(ready.Add(1)) == len(nodes) {
				allReady.Store(true)
				t.supported.Store(supYes)
				t.setLive(true, "connect")
				t.log.Info("tracking: invalidation connections live", "masters", len(nodes), "prefixes", len(t.prefixes))
			}
			t.conns.Add(1)
		}
	)
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			firstErr <- t.listen(gctx, n, confirmed)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := t.watchTopology(gctx, nodes); err != nil {
			firstErr <- err
		}
	}()
	err = <-firstErr
	cancel()
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return allReady.Load(), err
}

// node is one master: its address and the options of a client for it.
type node struct {
	addr string
	opt  *redis.Options
}

// masters lists the servers to track: every master of a Cluster (from the
// client's slot map, checked against CLUSTER SLOTS so that a map not yet
// reloaded after a failover is not tracked), or the one server otherwise.
func (t *Tracker) masters(ctx context.Context) ([]node, error) {
	switch c := t.rc.UniversalClient.(type) {
	case *redis.Client:
		return []node{{addr: c.Options().Addr, opt: c.Options()}}, nil
	case *redis.ClusterClient:
		var mu sync.Mutex
		var out []node
		cctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
		defer cancel()
		err := c.ForEachMaster(cctx, func(_ context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			out = append(out, node{addr: m.Options().Addr, opt: m.Options()})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing cluster masters: %w", err)
		}
		slices.SortFunc(out, func(a, b node) int { return strings.Compare(a.addr, b.addr) })
		now, err := t.slotMasters(ctx, c)
		if err != nil {
			return nil, err
		}
		if !sameAddrs(out, now) {
			return nil, fmt.Errorf("%w: the client's slot map is not reloaded yet", errTopology)
		}
		return out, nil
	}
	return nil, fmt.Errorf("tracking: unsupported client type %T", t.rc.UniversalClient)
}

// slotMasters asks the Cluster which nodes serve slots now, sorted.
func (t *Tracker) slotMasters(ctx context.Context, c *redis.ClusterClient) ([]string, error) {
	cctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	slots, err := c.ClusterSlots(cctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	var addrs []string
	for _, s := range slots {
		if len(s.Nodes) > 0 && !slices.Contains(addrs, s.Nodes[0].Addr) {
			addrs = append(addrs, s.Nodes[0].Addr)
		}
	}
	slices.Sort(addrs)
	return addrs, nil
}

func sameAddrs(nodes []node, addrs []string) bool {
	return slices.EqualFunc(nodes, addrs, func(n node, a string) bool { return n.addr == a })
}

// watchTopology ends the generation when the Cluster's masters are no
// longer those it tracks (a failover or a reshard), asking CLUSTER SLOTS
// every TopologyEvery: writes to a master without an invalidation
// connection would go unheard. A master that dies ends it sooner, through
// its connection; a master demoted by a manual failover stays up, and
// this is what notices.
func (t *Tracker) watchTopology(ctx context.Context, tracked []node) error {
	cc, ok := t.rc.UniversalClient.(*redis.ClusterClient)
	if !ok {
		<-ctx.Done()
		return nil
	}
	tk := time.NewTicker(t.o.TopologyEvery)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		}
		now, err := t.slotMasters(ctx, cc)
		if err != nil {
			continue // a connection to the failed node ends the generation if it matters
		}
		if !sameAddrs(tracked, now) {
			t.rc.RefreshTopology(ctx)
			return fmt.Errorf("%w: %d -> %d masters", errTopology, len(tracked), len(now))
		}
	}
}

// listen runs one invalidation connection to n until it fails or ctx
// ends. Its own go-redis client speaks RESP2 (tracking messages arrive as
// pub/sub messages) and enables tracking in OnConnect, redirected to the
// connection itself, before SUBSCRIBE puts it in pub/sub mode.
func (t *Tracker) listen(ctx context.Context, n node, confirmed func()) error {
	opt := *n.opt
	opt.Protocol = 2
	opt.ClientName = "redlane-tracking"
	opt.PoolSize, opt.MinIdleConns, opt.MaxIdleConns = 1, 0, 1
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	// RESP2 has no maintenance notifications; and the shared config is
	// one go-redis writes to while it connects.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	var trackErr atomic.Pointer[error]
	opt.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		err := t.enable(ctx, cn)
		if err != nil {
			trackErr.Store(&err)
		}
		return err
	}
	c := redis.NewClient(&opt)
	defer c.Close()

	ps := c.Subscribe(ctx)
	sctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	err := ps.Subscribe(sctx, invalidateChannel)
	cancel()
	if err != nil {
		_ = ps.Close()
		if p := trackErr.Load(); p != nil {
			return *p
		}
		return fmt.Errorf("subscribing on %s: %w", n.addr, err)
	}
	ka := redisx.StartKeepalive(ctx, ps, t.o.PingEvery, t.o.DeadAfter, func() {
		t.log.Warn("tracking: invalidation connection stopped answering; local copies flushed and off until it is back", "addr", n.addr)
	})
	defer func() { ka.Stop(); _ = ps.Close() }()
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// go-redis cannot parse the null payload of a flush message and
			// drops the connection: the generation ends and everything is
			// flushed, which is what a flush asks for.
			if strings.Contains(err.Error(), "payload: <nil>") {
				return fmt.Errorf("%w (on %s)", errServerFlush, n.addr)
			}
			if r := refusal(err); errors.Is(r, errUnsupported) {
				return r // SUBSCRIBE refused (an ACL without the channel)
			}
			return fmt.Errorf("invalidation connection to %s: %w", n.addr, err)
		}
		ka.Heard()
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				confirmed()
			}
		case *redis.Message:
			t.invalidate(invalidatedKeys(m))
		}
	}
}

// enable turns tracking on for the connection being opened, redirected to
// itself, broadcasting every key under the tracked prefixes.
func (t *Tracker) enable(ctx context.Context, cn *redis.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	id, err := cn.ClientID(ctx).Result()
	if err != nil {
		return refusal(err)
	}
	args := []any{"CLIENT", "TRACKING", "ON", "REDIRECT", id, "BCAST"}
	for _, p := range t.prefixes {
		args = append(args, "PREFIX", p)
	}
	if err := cn.Do(ctx, args...).Err(); err != nil {
		return refusal(err)
	}
	return nil
}

// refusal marks a server's error reply to CLIENT ID or CLIENT TRACKING
// (an unknown command or subcommand, or an ACL that forbids it) as
// unsupported; anything else (a
// timeout, a reset) is worth retrying soon.
func refusal(err error) error {
	var re redis.Error
	if errors.As(err, &re) {
		msg := strings.ToLower(re.Error())
		if strings.Contains(msg, "unknown") || strings.Contains(msg, "not supported") || strings.Contains(msg, "syntax") ||
			strings.HasPrefix(msg, "noperm") { // an ACL user without CLIENT TRACKING or the channel
			return fmt.Errorf("%w: %v", errUnsupported, err)
		}
	}
	return err
}

// invalidatedKeys reads one __redis__:invalidate message: an array of keys,
// or a null (every key: FLUSHALL, FLUSHDB), which is nil.
func invalidatedKeys(m *redis.Message) []string {
	if len(m.PayloadSlice) > 0 {
		return m.PayloadSlice
	}
	if m.Payload != "" {
		return []string{m.Payload}
	}
	return nil
}
