package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redisx"
)

// broker holds this instance's Redis subscriptions: one shared PubSub per
// shard (the one server, or each Cluster master for sharded pub/sub; see
// shard.go), subscribed to a room's channel only while a local socket is in
// the room. It routes each channel to its shard, owns the shards'
// goroutines, and proves them for readiness (check).
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

// sink receives what the shards read; the hub implements it.
type sink interface {
	deliverLive(room string, e *envelope)
	subscribed(room string)
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
	b.wg.Wait()
}

// owner is the address of the master that serves channel's slot ("" outside
// Cluster), from the client's slot map.
func (b *broker) owner(ctx context.Context, channel string) (string, error) {
	cc, cluster := b.rc.UniversalClient.(*redis.ClusterClient)
	if !cluster {
		return "", nil
	}
	node, err := cc.MasterForKey(ctx, channel)
	if err != nil {
		return "", fmt.Errorf("finding the Cluster node of %s: %w", channel, err)
	}
	return node.Options().Addr, nil
}

// shardFor finds (or makes) the shard that must carry channel.
func (b *broker) shardFor(ctx context.Context, channel string) (*shard, error) {
	addr, err := b.owner(ctx, channel)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil || b.ctx.Err() != nil {
		return nil, errors.New("realtime: subscriptions are stopped")
	}
	if s, ok := b.shards[addr]; ok {
		return s, nil
	}
	_, sharded := b.rc.UniversalClient.(*redis.ClusterClient)
	s := newShard(b, addr, sharded)
	b.shards[addr] = s
	ctx = b.ctx
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		s.run(ctx)
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

// move takes channel, which from no longer carries, to the shard of the
// master that serves it now.
func (b *broker) move(channel string, from *shard) {
	b.forget(channel, from)
	if _, err := b.want(channel, true); err != nil {
		b.log.Warn("realtime: resubscribing a moved channel failed; retried on the next failure", "channel", channel, "error", err.Error())
		// Keep it on from, so the next failure or readiness probe tries again.
		b.mu.Lock()
		if b.routes[channel] == nil {
			b.routes[channel] = from
		}
		b.mu.Unlock()
		from.setWant(channel, true)
	}
}

// relocate moves channel, subscribed and confirmed on sh although the
// master at addr serves its slot now, to addr's shard, and unsubscribes it
// on sh. A shard's connection can outlive the change without an error: a
// Cluster being formed while this instance starts (its slot map flaps as
// masters are assigned) can leave a channel subscribed on a node that then
// turns replica, and a replica takes SSUBSCRIBE and even relays its
// master's messages, so nothing fails; readiness, which compares every
// channel's shard with its slot's master, is what notices it.
func (b *broker) relocate(channel string, sh *shard, addr string) {
	b.log.Info("realtime: channel subscribed on a node that does not serve its slot; moving its subscription", "channel", channel, "from", sh.addr, "to", addr)
	b.move(channel, sh)
	b.mu.Lock()
	moved := b.routes[channel] != sh
	b.mu.Unlock()
	if moved {
		sh.setWant(channel, false)
	}
}

// forget drops channel's route once its shard no longer holds it.
func (b *broker) forget(channel string, s *shard) {
	b.mu.Lock()
	if b.routes[channel] == s {
		delete(b.routes, channel)
	}
	b.mu.Unlock()
}

// check is the readiness probe, true exactly when every shard this
// instance needs carries its channels: a message published on this
// instance's probe channel must come back through the shared subscription,
// and every shard with channels must have each of them confirmed by Redis,
// answer a ping on its pub/sub connection and, on a Cluster, still be the
// master of their slots and take a write (an SPUBLISH nobody receives).
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
	shards := make([]*shard, 0, len(b.shards))
	for _, sh := range b.shards {
		shards = append(shards, sh)
	}
	b.mu.Unlock()
	for _, sh := range shards {
		if err := b.checkShard(ctx, sh, nonce); err != nil {
			return err
		}
	}
	return nil
}

func (b *broker) checkShard(ctx context.Context, sh *shard, nonce string) error {
	wanted, problem := sh.status()
	if len(wanted) == 0 {
		return nil
	}
	if problem != "" {
		return errors.New(problem)
	}
	if err := sh.ping(ctx, nonce); err != nil {
		return err
	}
	if !sh.sharded {
		return nil // the probe round trip went through this one server
	}
	var misplaced error
	for _, ch := range wanted {
		addr, err := b.owner(ctx, ch)
		if err != nil {
			return err
		}
		if addr != sh.addr {
			b.relocate(ch, sh, addr)
			misplaced = fmt.Errorf("pub/sub: %s is served by %s but subscribed on %s (moving it)", ch, addr, sh.addr)
		}
	}
	if misplaced != nil {
		return misplaced
	}
	// A sibling of a room channel (same hash tag, so same slot and master)
	// that nobody subscribes: the write reaches no one. The probe channel
	// has no hash tag; its round trip above already wrote to its master.
	for _, ch := range wanted {
		if hashTag(ch) == ch {
			continue
		}
		if err := b.rc.SPublish(ctx, ch+":ready", nonce).Err(); err != nil {
			return fmt.Errorf("pub/sub: master %s does not take writes: %w", sh.addr, err)
		}
		break
	}
	return nil
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
