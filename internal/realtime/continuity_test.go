package realtime

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redistest"
)

// TestCatchUpRetriesAFailedRead: a live message that does not follow the
// room's last one makes the room read the messages between from history.
// When that read fails for a moment (the pool redialling after a failover),
// the read is retried and the messages are fanned out; the room is not
// declared to have lost them, nor moved past them.
func TestCatchUpRetriesAFailedRead(t *testing.T) {
	rs := redistest.Start(t)
	rc := rs.Redisx(t)
	cfg := config.Default()
	h := New(Options{Config: config.NewStore(cfg, ""), Redis: rc, Registry: prometheus.NewRegistry()})
	ctx := context.Background()
	const room = "flaky"
	base, err := h.Publish(ctx, room, "a", "seen", "", "http")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, text := range []string{"missed-1", "missed-2", "live"} {
		p, err := h.Publish(ctx, room, "a", text, "", "http")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	live, err := h.hist.after(ctx, room, mustID(t, ids[1]), 1)
	if err != nil || len(live) != 1 {
		t.Fatalf("reading the live message back: %v %v", live, err)
	}

	failures := 2
	h.readAfter = func(ctx context.Context, room string, since streamID, count int64) ([]*envelope, error) {
		if failures > 0 {
			failures--
			return nil, errors.New("dial tcp: connection refused")
		}
		return h.hist.after(ctx, room, since, count)
	}
	r := &localRoom{name: room, ready: make(chan struct{}), members: map[*Conn]*member{}, lastSeen: mustID(t, base.ID)}
	h.rooms[room] = r
	h.deliverLive(room, live[0])

	if r.lastSeen.String() != ids[2] {
		t.Fatalf("room's last message %s, want the live one %s", r.lastSeen, ids[2])
	}
	if n := testutil.ToFloat64(h.metrics.catchups); n != 2 {
		t.Errorf("%v messages caught up from history, want the 2 missed", n)
	}
	for _, reason := range gapReasons {
		if n := testutil.ToFloat64(h.metrics.gaps.WithLabelValues(reason)); n != 0 {
			t.Errorf("%v gaps %s reported, want none", n, reason)
		}
	}
	if failures != 0 {
		t.Errorf("the failing reads were not all tried (%d left)", failures)
	}
}

func mustID(t *testing.T, s string) streamID {
	t.Helper()
	id, ok := parseID(s)
	if !ok {
		t.Fatalf("bad id %q", s)
	}
	return id
}
