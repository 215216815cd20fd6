package realtime

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Presence entries are "<pod> <conn> <sender>" members of the room's
// presence ZSET scored by expiry (unix ms); see keys.go. Writes are plain
// ZADD/ZREM (no read-modify-write), and readers only count unexpired scores,
// so a crashed instance's members disappear after presenceTTL by themselves.

func (h *Hub) presenceMember(c *Conn) string { return h.pod + " " + c.id + " " + c.sender }

func (h *Hub) expiry() float64 {
	return float64(time.Now().Add(h.cfg.Current().Spec.Realtime.PresenceTTL.Duration).UnixMilli())
}

func (h *Hub) presenceJoin(ctx context.Context, c *Conn, room string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	exp := h.expiry()
	_, err := h.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, h.keys.presence(room), redis.Z{Score: exp, Member: h.presenceMember(c)})
		p.PExpire(ctx, h.keys.presence(room), 2*h.cfg.Current().Spec.Realtime.PresenceTTL.Duration)
		p.ZAdd(ctx, h.keys.rooms(), redis.Z{Score: exp, Member: room})
		return nil
	})
	if err != nil {
		h.log.Warn("realtime: presence not recorded; the next refresh retries", "room", room, "error", err.Error())
	}
}

func (h *Hub) presenceLeave(c *Conn, room string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.rc.ZRem(ctx, h.keys.presence(room), h.presenceMember(c)).Err(); err != nil {
		h.log.Debug("realtime: presence not removed; it expires by itself", "room", room, "error", err.Error())
	}
}

// presenceLoop refreshes this instance's presence entries every third of
// presenceTTL and sweeps expired ones (left by crashed instances) from the
// rooms it serves.
func (h *Hub) presenceLoop(ctx context.Context) {
	for {
		ttl := h.cfg.Current().Spec.Realtime.PresenceTTL.Duration
		select {
		case <-ctx.Done():
			return
		case <-time.After(ttl / 3):
		}
		if err := h.refreshPresence(ctx, ttl); err != nil && ctx.Err() == nil {
			h.log.Warn("realtime: presence refresh failed", "error", err.Error())
		}
	}
}

func (h *Hub) refreshPresence(ctx context.Context, ttl time.Duration) error {
	type roomMembers struct {
		room    string
		members []string
	}
	h.mu.Lock()
	snap := make([]roomMembers, 0, len(h.rooms))
	for name, r := range h.rooms {
		r.mu.Lock()
		rm := roomMembers{room: name, members: make([]string, 0, len(r.members))}
		for c := range r.members {
			rm.members = append(rm.members, h.presenceMember(c))
		}
		r.mu.Unlock()
		snap = append(snap, rm)
	}
	h.mu.Unlock()
	now := time.Now()
	exp := float64(now.Add(ttl).UnixMilli())
	nowMS := strconv.FormatInt(now.UnixMilli(), 10)
	// Bounded pipelines and ZADDs keep each reply, and each Redis step, small.
	const roomsPerPipeline, membersPerZAdd = 50, 500
	for i := 0; i < len(snap); i += roomsPerPipeline {
		part := snap[i:min(i+roomsPerPipeline, len(snap))]
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := h.rc.Pipelined(cctx, func(p redis.Pipeliner) error {
			for _, rm := range part {
				key := h.keys.presence(rm.room)
				for j := 0; j < len(rm.members); j += membersPerZAdd {
					batch := rm.members[j:min(j+membersPerZAdd, len(rm.members))]
					zs := make([]redis.Z, len(batch))
					for k, m := range batch {
						zs[k] = redis.Z{Score: exp, Member: m}
					}
					p.ZAdd(cctx, key, zs...)
				}
				p.ZRemRangeByScore(cctx, key, "-inf", "("+nowMS)
				p.PExpire(cctx, key, 2*ttl)
				p.ZAdd(cctx, h.keys.rooms(), redis.Z{Score: exp, Member: rm.room})
			}
			return nil
		})
		cancel()
		if err != nil {
			return err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return h.rc.ZRemRangeByScore(cctx, h.keys.rooms(), "-inf", "("+nowMS).Err()
}

// RoomInfo is a room in GET /chat/rooms.
type RoomInfo struct {
	Room    string `json:"room"`
	Members int64  `json:"members"`
}

// Rooms lists active rooms with their member counts across all instances.
func (h *Hub) Rooms(ctx context.Context, limit int64) ([]RoomInfo, error) {
	nowMS := strconv.FormatInt(time.Now().UnixMilli(), 10)
	names, err := h.rc.ZRangeByScore(ctx, h.keys.rooms(), &redis.ZRangeBy{Min: "(" + nowMS, Max: "+inf", Count: limit}).Result()
	if err != nil {
		return nil, err
	}
	counts := make([]*redis.IntCmd, len(names))
	if len(names) > 0 {
		_, err = h.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, n := range names {
				counts[i] = p.ZCount(ctx, h.keys.presence(n), "("+nowMS, "+inf")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := []RoomInfo{}
	for i, n := range names {
		if c := counts[i].Val(); c > 0 {
			out = append(out, RoomInfo{Room: n, Members: c})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out, nil
}

// Present is one member in GET /chat/presence.
type Present struct {
	Sender     string `json:"sender"`
	Connection string `json:"connection"`
	Instance   string `json:"instance"`
}

// Presence lists who is in room across all instances.
func (h *Hub) Presence(ctx context.Context, room string) ([]Present, error) {
	nowMS := strconv.FormatInt(time.Now().UnixMilli(), 10)
	ms, err := h.rc.ZRangeByScore(ctx, h.keys.presence(room), &redis.ZRangeBy{Min: "(" + nowMS, Max: "+inf"}).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Present, 0, len(ms))
	for _, m := range ms {
		parts := strings.SplitN(m, " ", 3)
		if len(parts) == 3 {
			out = append(out, Present{Instance: parts[0], Connection: parts[1], Sender: parts[2]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sender+out[i].Connection < out[j].Sender+out[j].Connection })
	return out, nil
}
