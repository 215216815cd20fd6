package realtime

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The life of a shard's connection: made to connect on its first command
// (newConn), read by its receive loop (receiveLoop, message,
// subscription), pinged by the watch loop, and, when any of these fails,
// replaced (fail) so that the command loop subscribes every wanted channel
// again on a fresh one. status and ping are what readiness asks of it.

// psConn is one go-redis PubSub, used for one connection only.
type psConn struct {
	ps      *redis.PubSub
	started bool // its receive loop runs (from its first command on)
}

// newConn makes a PubSub that connects on its first command: to the master
// of that command's first channel in a Cluster, else to the server.
func (s *shard) newConn() *psConn {
	if cc, ok := s.b.rc.UniversalClient.(*redis.ClusterClient); ok && s.sharded {
		return &psConn{ps: cc.SSubscribe(context.Background())}
	}
	return &psConn{ps: s.b.rc.Subscribe(context.Background())}
}

// fail gives up conn (if it is still the shard's): it is closed, a new
// connection takes its place, every wanted channel is to be subscribed
// again on it after a backoff, the slot map is refreshed, and unwanted
// channels are forgotten (the old connection's subscriptions die with it).
func (s *shard) fail(conn *psConn, err error) {
	s.mu.Lock()
	if s.conn != conn {
		s.mu.Unlock()
		return
	}
	s.conn = s.newConn()
	var gone []string
	for ch, st := range s.chans {
		st.pending, st.confirmed = 0, false
		if st.want {
			st.sentWant = false
			s.dirty[ch] = true
		} else {
			delete(s.chans, ch)
			delete(s.dirty, ch)
			gone = append(gone, ch)
		}
	}
	s.backoff = min(max(2*s.backoff, 50*time.Millisecond), maxShardBackoff)
	s.rerout = true
	s.mu.Unlock()
	_ = conn.ps.Close() // its receive loop returns
	for _, ch := range gone {
		s.b.forget(ch, s)
	}
	s.b.metrics.pubsubErrors.Inc()
	s.b.log.Warn("realtime: pub/sub connection failed; resubscribing on a new one", "shard", s.label(), "error", err.Error())
	s.b.rc.RefreshTopology(context.Background())
	s.wake()
}

// receiveLoop reads conn until it fails or ctx is done. Every message is
// handed off at once.
func (s *shard) receiveLoop(ctx context.Context, conn *psConn) {
	for {
		msg, err := conn.ps.Receive(context.Background())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.fail(conn, err)
			return
		}
		switch m := msg.(type) {
		case *redis.Message:
			s.message(m)
		case *redis.Subscription:
			s.subscription(conn, m)
		case *redis.Pong:
			s.pongs.fire(m.Payload)
		}
	}
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

func (s *shard) subscription(conn *psConn, m *redis.Subscription) {
	switch m.Kind {
	case "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe":
	default:
		return
	}
	s.mu.Lock()
	if s.conn != conn {
		s.mu.Unlock()
		return
	}
	st := s.chans[m.Channel]
	ready, gone, moved := false, false, false
	isSub := !strings.HasSuffix(m.Kind, "unsubscribe")
	if st != nil {
		if st.pending > 0 {
			st.pending--
		}
		if st.pending == 0 {
			switch {
			case st.sentWant && st.want && isSub:
				st.confirmed, ready = true, true
				s.backoff = 0 // the connection works
			case !st.sentWant && !st.want:
				delete(s.chans, m.Channel)
				gone = true
			case st.sentWant && !isSub:
				// The server dropped a channel we still want (its Cluster
				// slot moved): subscribe it again through its new owner.
				st.confirmed, st.sentWant = false, false
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
		s.b.rc.RefreshTopology(context.Background())
		s.b.move(m.Channel, s)
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

// watchLoop pings the current connection every shardPingEvery and fails it
// when the PONG does not come back in time: a paused or unreachable server
// may leave a connection open that will never deliver again.
func (s *shard) watchLoop(ctx context.Context) {
	t := time.NewTicker(shardPingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		conn := s.conn
		started := conn.started
		s.mu.Unlock()
		if !started {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, shardPingTimeout)
		err := s.pingConn(pctx, conn, randomID(8))
		cancel()
		if err != nil && ctx.Err() == nil {
			s.fail(conn, err)
		}
	}
}

// status reports what readiness needs of the shard: the channels it must
// carry, and a reason it does not carry them all ("" when it does).
func (s *shard) status() (wanted []string, problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	unconfirmed := 0
	for ch, st := range s.chans {
		if !st.want {
			continue
		}
		wanted = append(wanted, ch)
		if !st.confirmed {
			unconfirmed++
		}
	}
	if unconfirmed > 0 {
		problem = fmt.Sprintf("pub/sub on %s: %d of %d channels not subscribed", s.label(), unconfirmed, len(wanted))
	}
	return wanted, problem
}

// ping proves the shard's current connection answers: a PING through it
// whose PONG the receive loop must read. No connection yet is no problem:
// nothing was subscribed on this shard.
func (s *shard) ping(ctx context.Context, nonce string) error {
	s.mu.Lock()
	conn, started := s.conn, s.conn.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	return s.pingConn(ctx, conn, nonce)
}

func (s *shard) pingConn(ctx context.Context, conn *psConn, nonce string) error {
	done, cancel := s.pongs.add(nonce)
	defer cancel()
	if err := conn.ps.Ping(ctx, nonce); err != nil {
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
