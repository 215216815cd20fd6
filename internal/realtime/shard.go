package realtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// shard is one shared pub/sub connection: to the one server, or to one
// Cluster master for sharded pub/sub (SSUBSCRIBE), carrying the channels of
// every local room whose slot that master serves.
//
// Each shard has two goroutines: a command loop that reconciles the wanted
// channels with what was sent to Redis (so subscribe/unsubscribe of one
// channel are never reordered), and a receive loop that reads with
// PubSub.Receive and hands every message straight to the hub, which queues
// it to sockets without blocking. go-redis's Channel() buffer is never used.
// Subscribing, confirming, resubscribing after a reconnect and following a
// channel whose slot moved all happen in this file, which runs a little
// over 300 lines so that the subscription state machine reads, and
// changes, in one place.
type shard struct {
	b       *broker
	addr    string
	sharded bool
	ps      *redis.PubSub

	mu      sync.Mutex
	chans   map[string]*chanState
	dirty   map[string]bool
	started bool // receive loop running
	kick    chan struct{}
	pongs   waiters
}

// chanState is the shard's bookkeeping for one channel.
type chanState struct {
	want     bool // a local member needs it
	sentWant bool // what was last sent to Redis
	pending  int  // (un)subscribe replies still expected
}

// newShard makes the shard for addr: a Cluster master when cc is set, else
// the one server. Its connection is dialled by the first subscribe.
func newShard(ctx context.Context, b *broker, addr string, cc *redis.ClusterClient) *shard {
	s := &shard{b: b, addr: addr, chans: map[string]*chanState{}, dirty: map[string]bool{},
		kick: make(chan struct{}, 1)}
	if cc != nil {
		s.sharded = true
		s.ps = cc.SSubscribe(ctx) // no channels: connects on the first SSUBSCRIBE, to that channel's master
	} else {
		s.ps = b.rc.Subscribe(ctx)
	}
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
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// commandLoop sends SUBSCRIBE/UNSUBSCRIBE for channels whose wanted state
// changed, in order, one goroutine per shard.
func (s *shard) commandLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		s.reconcile(ctx)
	}
}

// reconcile acts on the channels whose wanted state changed since the last
// pass: it (un)subscribes those that differ from what Redis was told,
// confirms wanted ones already subscribed and forgets unwanted ones already
// gone.
func (s *shard) reconcile(ctx context.Context) {
	s.mu.Lock()
	var sub, unsub, ready, gone []string
	for ch := range s.dirty {
		st := s.chans[ch]
		delete(s.dirty, ch)
		switch {
		case st.want != st.sentWant:
			if st.want {
				sub = append(sub, ch)
			} else {
				unsub = append(unsub, ch)
			}
			st.sentWant = st.want
		case st.want && st.pending == 0:
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
	s.command(ctx, "unsubscribe", unsub)
	s.command(ctx, "subscribe", sub)
}

// command sends one SUBSCRIBE or UNSUBSCRIBE (S-prefixed on a Cluster
// shard) for chs, counting the replies it expects, and starts the receive
// loop after the shard's first command.
func (s *shard) command(ctx context.Context, kind string, chs []string) {
	if len(chs) == 0 {
		return
	}
	// Count the replies to expect before sending: the receive loop may
	// read a reply before this goroutine runs again, and a reply counted
	// after it arrived would leave pending stuck above zero (the room's
	// next join would then wait for a confirmation that never comes).
	s.mu.Lock()
	for _, ch := range chs {
		if st := s.chans[ch]; st != nil {
			st.pending++
		}
	}
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	switch {
	case kind == "subscribe" && s.sharded:
		err = s.ps.SSubscribe(cctx, chs...)
	case kind == "subscribe":
		err = s.ps.Subscribe(cctx, chs...)
	case s.sharded:
		err = s.ps.SUnsubscribe(cctx, chs...)
	default:
		err = s.ps.Unsubscribe(cctx, chs...)
	}
	s.mu.Lock()
	if err != nil { // no reply will come for these; a late one floors at zero
		for _, ch := range chs {
			if st := s.chans[ch]; st != nil && st.pending > 0 {
				st.pending--
			}
		}
	}
	start := !s.started
	s.started = true
	s.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		// go-redis keeps the channel in its set and subscribes it when
		// the connection comes back; the confirmation then arrives
		// unannounced and is handled like any other.
		s.b.log.Warn("realtime: "+kind+" failed; retried on reconnect", "channels", len(chs), "error", err.Error())
	}
	if start {
		s.b.wg.Add(1)
		go func() {
			defer s.b.wg.Done()
			s.receiveLoop(ctx)
		}()
	}
}

// receiveLoop reads the shard's connection until ctx is done. Every message
// is handed off at once; a lost connection is redialled by go-redis on the
// next Receive, which resubscribes every channel, and each confirmation then
// makes the hub fill the room's gap from history.
func (s *shard) receiveLoop(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for {
		msg, err := s.ps.Receive(context.Background())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.lost(err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Message:
			s.message(m)
		case *redis.Subscription:
			s.subscription(m)
		case *redis.Pong:
			s.pongs.fire(m.Payload)
		}
	}
}

func (s *shard) lost(err error) {
	s.mu.Lock()
	for _, st := range s.chans {
		st.pending = 0 // replies to commands on the dead connection never come
	}
	s.mu.Unlock()
	s.b.metrics.pubsubErrors.Inc()
	s.b.log.Warn("realtime: pub/sub connection lost; resubscribing", "shard", s.addr, "error", err.Error())
}

func (s *shard) message(m *redis.Message) {
	if m.Channel == s.b.probeCh {
		s.b.probes.fire(m.Payload)
		return
	}
	room, ok := s.b.keys.roomOfChannel(m.Channel)
	if !ok {
		return
	}
	e, err := decodePayload(room, m.Payload)
	if err != nil {
		s.b.log.Warn("realtime: dropping malformed message", "room", room, "error", err.Error())
		return
	}
	s.b.sink.deliverLive(room, e)
}

func (s *shard) subscription(m *redis.Subscription) {
	switch m.Kind {
	case "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe":
	default:
		return
	}
	s.mu.Lock()
	st := s.chans[m.Channel]
	ready, gone, moved := false, false, false
	if st != nil {
		if st.pending > 0 {
			st.pending--
		}
		isSub := !strings.HasSuffix(m.Kind, "unsubscribe")
		if st.pending == 0 {
			switch {
			case st.sentWant && st.want && isSub:
				ready = true
			case !st.sentWant && !st.want:
				delete(s.chans, m.Channel)
				gone = true
			case st.sentWant && !isSub:
				// The server dropped a channel we still want (its Cluster
				// slot moved): subscribe it again through its new owner.
				delete(s.chans, m.Channel)
				moved = true
			}
		}
	}
	s.mu.Unlock()
	switch {
	case ready:
		s.confirmed(m.Channel)
	case gone:
		s.b.forget(m.Channel, s)
	case moved:
		s.b.log.Info("realtime: channel moved to another node; resubscribing", "channel", m.Channel)
		s.b.forget(m.Channel, s)
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.ps.SUnsubscribe(cctx, m.Channel) // drop it from go-redis's resubscribe set
		cancel()
		if _, err := s.b.want(m.Channel, true); err != nil {
			s.b.log.Warn("realtime: resubscribing a moved channel failed", "channel", m.Channel, "error", err.Error())
		}
	}
}

func (s *shard) confirmed(ch string) {
	if ch == s.b.probeCh {
		return
	}
	if room, ok := s.b.keys.roomOfChannel(ch); ok {
		s.b.sink.subscribed(room)
	}
}

// ping proves the shard's connection answers: a PING through the pub/sub
// connection whose PONG the receive loop must read.
func (s *shard) ping(ctx context.Context, nonce string) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	done, cancel := s.pongs.add(nonce)
	defer cancel()
	if !started {
		return nil // no connection yet: nothing subscribed on this shard
	}
	if err := s.ps.Ping(ctx, nonce); err != nil {
		return fmt.Errorf("pub/sub ping to %s: %w", s.label(), err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pub/sub ping to %s: no answer: %w", s.label(), ctx.Err())
	}
}

func (s *shard) label() string {
	if s.addr == "" {
		return "redis"
	}
	return s.addr
}
