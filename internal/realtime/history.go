package realtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redisx"
)

// history reads and writes rooms' streams.
type history struct {
	rc   *redisx.Client
	keys keys
}

// published is the result of one publish.
type published struct {
	ID        string
	Duplicate bool
	Body      string
	PubUS     int64
}

// lastIDTTL is how long a room remembers its newest message id after the
// last publish: far longer than any history retention, so a client that
// comes back to a quiet room days later is told "nothing missed" rather
// than "gap".
const lastIDTTL = 30 * 24 * time.Hour

// publish runs the publish script: history append and PUBLISH in one step.
func (h *history) publish(ctx context.Context, rt config.Realtime, room, sender, text, idemKey, traceparent string) (published, error) {
	now := time.Now()
	b := encodeBody(room, sender, text, now)
	us := now.UnixMicro()
	ks := []string{h.keys.stream(room), h.keys.last(room)}
	if idemKey != "" {
		ks = append(ks, h.keys.idem(room, idemKey))
	}
	cmd := "PUBLISH"
	if h.rc.IsCluster() {
		cmd = "SPUBLISH"
	}
	res, err := publishScript.Run(ctx, h.rc, ks,
		h.keys.channel(room), b, us, rt.HistorySize, rt.HistoryRetention.Milliseconds(),
		rt.IdempotencyTTL.Milliseconds(), cmd, lastIDTTL.Milliseconds(), traceparent).Slice()
	if err != nil {
		return published{}, fmt.Errorf("publishing to room %s: %w", room, err)
	}
	if len(res) != 2 {
		return published{}, fmt.Errorf("publishing to room %s: unexpected script reply %v", room, res)
	}
	id, _ := res[0].(string)
	dup, _ := res[1].(int64)
	return published{ID: id, Duplicate: dup == 1, Body: b, PubUS: us}, nil
}

// after returns up to count messages with ids greater than since, oldest first.
func (h *history) after(ctx context.Context, room string, since streamID, count int64) ([]*envelope, error) {
	xs, err := h.rc.XRangeN(ctx, h.keys.stream(room), "("+since.String(), "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("reading history of room %s: %w", room, err)
	}
	return decodeEntries(room, xs)
}

// before returns up to count messages older than before ("" = newest),
// newest first.
func (h *history) before(ctx context.Context, room, before string, count int64) ([]*envelope, error) {
	end := "+"
	if before != "" {
		end = "(" + before
	}
	xs, err := h.rc.XRevRangeN(ctx, h.keys.stream(room), end, "-", count).Result()
	if err != nil {
		return nil, fmt.Errorf("reading history of room %s: %w", room, err)
	}
	return decodeEntries(room, xs)
}

// lastID returns the room's newest message id, zero when it has none.
func (h *history) lastID(ctx context.Context, room string) (streamID, error) {
	s, err := h.rc.Get(ctx, h.keys.last(room)).Result()
	if errors.Is(err, redis.Nil) {
		return streamID{}, nil
	}
	if err != nil {
		return streamID{}, fmt.Errorf("reading last id of room %s: %w", room, err)
	}
	id, ok := parseID(s)
	if !ok {
		return streamID{}, fmt.Errorf("room %s: malformed last id %s", room, strconv.Quote(s))
	}
	return id, nil
}

// epochAt returns the epoch of message id, "" when history does not hold
// it (or it predates epochs).
func (h *history) epochAt(ctx context.Context, room string, id streamID) (string, error) {
	xs, err := h.rc.XRangeN(ctx, h.keys.stream(room), id.String(), id.String(), 1).Result()
	if err != nil {
		return "", fmt.Errorf("reading history of room %s: %w", room, err)
	}
	if len(xs) == 0 {
		return "", nil
	}
	e, _ := xs[0].Values["e"].(string)
	return e, nil
}

// decodeEntries decodes a page of history entries.
func decodeEntries(room string, xs []redis.XMessage) ([]*envelope, error) {
	out := make([]*envelope, 0, len(xs))
	for _, x := range xs {
		e, err := decodeEntry(room, x)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
