package realtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// shard is one shared pub/sub connection: to the one server, or to one
// Cluster master for sharded pub/sub (SSUBSCRIBE), carrying the channels of
// every local room whose slot that master serves.
//
// A shard has three goroutines: a command loop that reconciles the wanted
// channels with what was sent to Redis (so subscribe/unsubscribe of one
// channel are never reordered), a receive loop per connection that reads
// with PubSub.Receive and hands every message straight to the hub (which
// queues it to sockets without blocking; go-redis's Channel() buffer is
// never used), and a watch loop that pings the connection, so a server
// that stopped answering without closing it is noticed.
//
// A connection is used once: when it fails (read error, refused command,
// unanswered ping) it is closed and a new one is made, on which the command
// loop subscribes every wanted channel again, one command per hash tag, and,
// on a Cluster, only after asking which master now serves each channel (a
// failover moves slots). go-redis would redial a failed PubSub by itself,
// but it resubscribes every channel in one SSUBSCRIBE, which a Cluster
// refuses (CROSSSLOT) as soon as the channels span two slots: the shard
// then stayed connected and deaf. Each new subscription's confirmation
// makes the hub fill the room's gap from history.
type shard struct {
	b       *broker
	addr    string
	sharded bool

	mu      sync.Mutex
	conn    *psConn // the current connection
	chans   map[string]*chanState
	dirty   map[string]bool
	rerout  bool          // a failure happened: ask Cluster owners before subscribing again
	backoff time.Duration // wait before the next attempt after a failure; 0 when healthy
	kick    chan struct{}
	pongs   waiters
}

// chanState is the shard's bookkeeping for one channel.
type chanState struct {
	want      bool // a local member needs it
	sentWant  bool // what was last sent on the current connection
	pending   int  // (un)subscribe replies still expected
	confirmed bool // Redis confirmed the subscription on the current connection
}

const (
	// shardPingEvery is how often a shard's connection must answer a PING;
	// shardPingTimeout how long the answer may take before the connection
	// is given up as dead.
	shardPingEvery   = 3 * time.Second
	shardPingTimeout = 3 * time.Second
	maxShardBackoff  = time.Second
)

// newShard makes the shard for addr (a Cluster master when sharded, else
// the one server). Its connection is dialled by the first subscribe.
func newShard(b *broker, addr string, sharded bool) *shard {
	s := &shard{b: b, addr: addr, sharded: sharded, chans: map[string]*chanState{}, dirty: map[string]bool{},
		kick: make(chan struct{}, 1)}
	s.conn = s.newConn()
	return s
}

// setWant records whether channel is needed and wakes the command loop.
func (s *shard) setWant(channel string, want bool) {
	s.mu.Lock()
	st := s.chans[channel]
	if st == nil {
		st = &chanState{}
		s.chans[channel] = st
	}
	st.want = want
	s.dirty[channel] = true
	s.mu.Unlock()
	s.wake()
}

func (s *shard) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run owns the shard's command and watch loops until ctx is done, then
// closes its connection.
func (s *shard) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.watchLoop(ctx) }()
	s.commandLoop(ctx)
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	_ = conn.ps.Close()
	wg.Wait()
}

// commandLoop sends SUBSCRIBE/UNSUBSCRIBE for channels whose wanted state
// changed, in order. After a failure it first waits its backoff and, on a
// Cluster, moves the channels whose slot another master now serves.
func (s *shard) commandLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		s.mu.Lock()
		wait, reroute := s.backoff, s.rerout
		s.rerout = false
		s.mu.Unlock()
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if reroute && s.sharded {
			s.reroute(ctx)
		}
		s.reconcile(ctx)
	}
}

// reroute hands each wanted channel whose slot is now served by another
// master to that master's shard. The slot map was refreshed when the
// failure was noticed; an address that has not changed yet (the replica is
// not promoted yet) is tried again after the next failure.
func (s *shard) reroute(ctx context.Context) {
	s.mu.Lock()
	var wanted []string
	for ch, st := range s.chans {
		if st.want {
			wanted = append(wanted, ch)
		}
	}
	s.mu.Unlock()
	for _, ch := range wanted {
		addr, err := s.b.owner(ctx, ch)
		if err != nil || addr == s.addr {
			continue
		}
		s.mu.Lock()
		st := s.chans[ch]
		moved := st != nil && st.want && !st.sentWant
		if moved {
			delete(s.chans, ch)
			delete(s.dirty, ch)
		}
		s.mu.Unlock()
		if moved {
			s.b.log.Info("realtime: channel served by another master now; moving its subscription", "channel", ch, "from", s.addr, "to", addr)
			s.b.move(ch, s)
		}
	}
}

// reconcile acts on the channels whose wanted state changed since the last
// pass: it (un)subscribes those that differ from what Redis was told,
// confirms wanted ones already subscribed and forgets unwanted ones already
// gone. A command that fails fails the connection.
func (s *shard) reconcile(ctx context.Context) {
	s.mu.Lock()
	conn := s.conn
	var sub, unsub, ready, gone []string
	for ch := range s.dirty {
		st := s.chans[ch]
		delete(s.dirty, ch)
		if st == nil {
			continue
		}
		switch {
		case st.want != st.sentWant:
			if st.want {
				sub = append(sub, ch)
			} else {
				unsub = append(unsub, ch)
			}
			st.sentWant = st.want
		case st.want && st.confirmed:
			ready = append(ready, ch) // still subscribed from before: nothing to wait for
		case !st.want && st.pending == 0:
			delete(s.chans, ch)
			gone = append(gone, ch)
		}
	}
	s.mu.Unlock()
	for _, ch := range gone {
		s.b.forget(ch, s)
	}
	for _, ch := range ready {
		s.confirmed(ch)
	}
	for _, step := range []struct {
		kind string
		chs  []string
	}{{"unsubscribe", unsub}, {"subscribe", sub}} {
		if err := s.command(ctx, conn, step.kind, step.chs); err != nil {
			s.fail(conn, err)
			return
		}
	}
}

// command sends SUBSCRIBE or UNSUBSCRIBE (S-prefixed on a Cluster shard)
// for chs on conn: one command per hash tag on a Cluster, since a sharded
// (un)subscribe may only name channels of one slot. It counts the replies
// it expects before sending, and starts conn's receive loop after its first
// command.
func (s *shard) command(ctx context.Context, conn *psConn, kind string, chs []string) error {
	if len(chs) == 0 {
		return nil
	}
	// Count the replies to expect before sending: the receive loop may
	// read a reply before this goroutine runs again, and a reply counted
	// after it arrived would leave pending stuck above zero.
	s.mu.Lock()
	for _, ch := range chs {
		if st := s.chans[ch]; st != nil {
			st.pending++
		}
	}
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, group := range s.batches(chs) {
		var err error
		switch {
		case kind == "subscribe" && s.sharded:
			err = conn.ps.SSubscribe(cctx, group...)
		case kind == "subscribe":
			err = conn.ps.Subscribe(cctx, group...)
		case s.sharded:
			err = conn.ps.SUnsubscribe(cctx, group...)
		default:
			err = conn.ps.Unsubscribe(cctx, group...)
		}
		if err != nil {
			return fmt.Errorf("%s of %d channels on %s: %w", kind, len(group), s.label(), err)
		}
	}
	s.mu.Lock()
	start := !conn.started && s.conn == conn
	conn.started = conn.started || start
	s.mu.Unlock()
	if start {
		s.b.wg.Add(1)
		go func() {
			defer s.b.wg.Done()
			s.receiveLoop(ctx, conn)
		}()
	}
	return nil
}

// batches splits chs into the commands that carry them: on a Cluster one
// per hash tag (every room's channel has its own, so a group never spans
// two slots), else at most 500 channels each.
func (s *shard) batches(chs []string) [][]string {
	if !s.sharded {
		var out [][]string
		for len(chs) > 500 {
			out, chs = append(out, chs[:500]), chs[500:]
		}
		return append(out, chs)
	}
	byTag := map[string][]string{}
	var order []string
	for _, ch := range chs {
		tag := hashTag(ch)
		if _, ok := byTag[tag]; !ok {
			order = append(order, tag)
		}
		byTag[tag] = append(byTag[tag], ch)
	}
	out := make([][]string, 0, len(order))
	for _, tag := range order {
		out = append(out, byTag[tag])
	}
	return out
}

// hashTag is the part of a key Redis Cluster hashes: the text between the
// first { and the next } when it is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}
