package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redisx"
)

// broker holds this instance's Redis subscriptions: one shared PubSub per
// shard (the one server, or each Cluster master for sharded pub/sub),
// subscribed to a room's channel only while a local socket is in the room.
//
// Each shard has two goroutines: a command loop that reconciles the wanted
// channels with what was sent to Redis (so subscribe/unsubscribe of one
// channel are never reordered), and a receive loop that reads with
// PubSub.Receive and hands every message straight to the hub, which queues
// it to sockets without blocking. go-redis's Channel() buffer is never used.
type broker struct {
	rc      *redisx.Client
	keys    keys
	log     *slog.Logger
	metrics *metrics
	sink    sink
	probeCh string

	mu     sync.Mutex
	shards map[string]*shard // by master address ("" outside Cluster)
	routes map[string]*shard // channel -> the shard it is (to be) subscribed on
	ctx    context.Context   // set by run; nil before, done after
	wg     sync.WaitGroup

	probes waiters // readiness nonces published on probeCh
}

// waiters hands a one-shot signal to whoever waits for a nonce.
type waiters struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// add registers nonce; call the returned func when done waiting.
func (w *waiters) add(nonce string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string]chan struct{}{}
	}
	w.m[nonce] = ch
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.m, nonce)
		w.mu.Unlock()
	}
}

func (w *waiters) fire(nonce string) {
	w.mu.Lock()
	ch := w.m[nonce]
	delete(w.m, nonce)
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// sink receives what the shards read; the hub implements it.
type sink interface {
	deliverLive(room string, e *envelope)
	subscribed(room string)
}

// chanState is the shard's bookkeeping for one channel.
type chanState struct {
	want     bool // a local member needs it
	sentWant bool // what was last sent to Redis
	pending  int  // (un)subscribe replies still expected
}

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

func newBroker(rc *redisx.Client, k keys, pod string, log *slog.Logger, m *metrics, s sink) *broker {
	return &broker{
		rc: rc, keys: k, log: log, metrics: m, sink: s,
		probeCh: k.probe(pod),
		shards:  map[string]*shard{},
		routes:  map[string]*shard{},
	}
}

// run owns every shard goroutine: it returns after ctx is done and they stopped.
func (b *broker) run(ctx context.Context) {
	b.mu.Lock()
	b.ctx = ctx
	b.mu.Unlock()
	// The probe channel makes the first shard exist from the start, so
	// readiness has a subscription to prove even before anyone chats.
	if _, err := b.want(b.probeCh, true); err != nil {
		b.log.Warn("realtime: probe subscription not set up yet", "error", err.Error())
	}
	<-ctx.Done()
	b.mu.Lock()
	for _, s := range b.shards {
		_ = s.ps.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// shardFor finds (or makes) the shard that must carry channel.
func (b *broker) shardFor(ctx context.Context, channel string) (*shard, error) {
	addr := ""
	cc, cluster := b.rc.UniversalClient.(*redis.ClusterClient)
	if cluster {
		node, err := cc.MasterForKey(ctx, channel)
		if err != nil {
			return nil, fmt.Errorf("finding the Cluster node of %s: %w", channel, err)
		}
		addr = node.Options().Addr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil || b.ctx.Err() != nil {
		return nil, errors.New("realtime: subscriptions are stopped")
	}
	if s, ok := b.shards[addr]; ok {
		return s, nil
	}
	s := &shard{b: b, addr: addr, chans: map[string]*chanState{}, dirty: map[string]bool{},
		kick: make(chan struct{}, 1)}
	if cluster {
		s.sharded = true
		s.ps = cc.SSubscribe(b.ctx) // no channels: connects on the first SSUBSCRIBE, to that channel's master
	} else {
		s.ps = b.rc.Subscribe(b.ctx)
	}
	b.shards[addr] = s
	ctx = b.ctx
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		s.commandLoop(ctx)
	}()
	return s, nil
}

// want records that channel is (not) needed and returns its shard; the
// subscription itself happens asynchronously, confirmed through sink.subscribed.
func (b *broker) want(channel string, want bool) (*shard, error) {
	b.mu.Lock()
	s := b.routes[channel]
	b.mu.Unlock()
	if s == nil {
		if !want {
			return nil, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ns, err := b.shardFor(ctx, channel)
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		if s = b.routes[channel]; s == nil {
			s = ns
			b.routes[channel] = s
		}
		b.mu.Unlock()
	}
	s.setWant(channel, want)
	return s, nil
}

// forget drops channel's route once its shard no longer holds it.
func (b *broker) forget(channel string, s *shard) {
	b.mu.Lock()
	if b.routes[channel] == s {
		delete(b.routes, channel)
	}
	b.mu.Unlock()
}

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
	send := func(kind string, chs []string) {
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
	send("unsubscribe", unsub)
	send("subscribe", sub)
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

// check is the readiness probe: a message published on this instance's
// probe channel must come back through the shared subscription, and every
// other shard must answer a ping on its pub/sub connection.
func (b *broker) check(ctx context.Context, nonce string) error {
	s, err := b.want(b.probeCh, true)
	if err != nil {
		return err
	}
	got, cancel := b.probes.add(nonce)
	defer cancel()
	pub := b.rc.Publish
	if s.sharded {
		pub = b.rc.SPublish
	}
	n, err := pub(ctx, b.probeCh, nonce).Result()
	if err != nil {
		return fmt.Errorf("pub/sub probe publish: %w", err)
	}
	if n == 0 {
		return errors.New("pub/sub probe: this instance's subscription is not active")
	}
	select {
	case <-got:
	case <-ctx.Done():
		return fmt.Errorf("pub/sub probe: message did not come back: %w", ctx.Err())
	}
	b.mu.Lock()
	others := make([]*shard, 0, len(b.shards))
	for _, o := range b.shards {
		if o != s {
			others = append(others, o)
		}
	}
	b.mu.Unlock()
	for _, o := range others {
		if err := o.ping(ctx, nonce); err != nil {
			return err
		}
	}
	return nil
}
