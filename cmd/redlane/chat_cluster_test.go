package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/redistest"
)

// Chat on a real Redis Cluster under the faults that broke it: a shard
// pub/sub connection killed, a master killed (failover), and a master that
// dies before replicating what it acknowledged. The promise checked in each:
// every acknowledged message reaches every member, or a gap frame names it.

// clusterChat starts the cluster's two Redlane instances.
func clusterChat(t *testing.T, c *redistest.Cluster) (a, b *server) {
	env := map[string]string{"REDIS_ADDRS": strings.Join(c.Addrs(), ",")}
	a, b = startServer(t, env), startServer(t, env)
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)
	return a, b
}

// tryPost publishes once and returns the id, or "" with the status when
// the publish was not acknowledged.
func tryPost(s *server, room, text string) (string, int) {
	b, _ := json.Marshal(map[string]string{"room": room, "message": text})
	r := s.do("POST", "/chat/message", string(b))
	if r.Status != 200 {
		return "", r.Status
	}
	var ans map[string]any
	if json.Unmarshal(r.Body, &ans) != nil {
		return "", r.Status
	}
	id, _ := ans["id"].(string)
	return id, r.Status
}

// received reads a member's frames until every id of want arrived or was
// named by a gap frame (after < id < next), and fails on anything missing,
// duplicated or out of order. It returns the gap frames.
func (c *wsClient) received(want []string) []frame {
	c.t.Helper()
	got := map[string]bool{}
	var gaps []frame
	var order []string
	covered := func(id string) bool {
		for _, g := range gaps {
			if idLess(g.str("after"), id) && (g.str("next") == "" || idLess(id, g.str("next"))) {
				return true
			}
		}
		return false
	}
	pending := func() []string {
		var out []string
		for _, id := range want {
			if !got[id] && !covered(id) {
				out = append(out, id)
			}
		}
		return out
	}
	for len(pending()) > 0 {
		f := c.next("message", "gap")
		if f.str("type") == "gap" {
			gaps = append(gaps, f)
			continue
		}
		id := f.str("id")
		if got[id] {
			c.t.Fatalf("message %s delivered twice", id)
		}
		if len(order) > 0 && !idLess(order[len(order)-1], id) {
			c.t.Fatalf("message %s after %s: out of order", id, order[len(order)-1])
		}
		got[id] = true
		order = append(order, id)
	}
	return gaps
}

// idLess orders stream ids "ms-seq".
func idLess(a, b string) bool {
	var am, as, bm, bs uint64
	fmt.Sscanf(a, "%d-%d", &am, &as)
	fmt.Sscanf(b, "%d-%d", &bm, &bs)
	return am < bm || (am == bm && as < bs)
}

// TestChatClusterPubsubKill: CLIENT KILL TYPE pubsub on every master while
// each master carries several rooms of different slots. The shard
// connections are made again and every room resubscribed; nothing is lost
// and no gap is needed (history fills what pub/sub missed).
func TestChatClusterPubsubKill(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	a, b := clusterChat(t, c)
	perMaster := map[string]int{}
	var rooms []string
	for i := 0; len(rooms) < 12; i++ {
		room := fmt.Sprint("kill-", i)
		rooms = append(rooms, room)
		perMaster[c.MasterOf("redlane:chat:{"+room+"}").Addr()]++
	}
	several := false
	for _, n := range perMaster {
		several = several || n > 1
	}
	if !several {
		t.Fatalf("no master carries two rooms (%v): the test would not cover a multi-slot resubscribe", perMaster)
	}
	members := map[string]*wsClient{}
	want := map[string][]string{}
	for _, room := range rooms {
		ws := dialChat(t, a, "/ws/chat/"+room)
		ws.next("joined")
		members[room] = ws
		want[room] = append(want[room], post(t, b, room, "before")["id"].(string))
	}
	ctx := context.Background()
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr()})
		if err := cl.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
			t.Fatalf("CLIENT KILL TYPE pubsub on %s: %v", n.Addr(), err)
		}
		cl.Close()
	}
	for i := 0; i < 5; i++ {
		for _, room := range rooms {
			want[room] = append(want[room], post(t, b, room, fmt.Sprint("after-", i))["id"].(string))
		}
	}
	for _, room := range rooms {
		if gaps := members[room].received(want[room]); len(gaps) > 0 {
			t.Errorf("room %s: gap frames %v although nothing was lost", room, gaps)
		}
	}
	a.waitStatus("/readyz", 200, readyWithin)
	if a.metric("redlane_realtime_pubsub_connection_errors_total") == 0 {
		t.Error("the pub/sub connections were killed, yet no connection error was counted")
	}
}

// TestChatClusterFailover: the master of a room is killed. Publishes answer
// 503 until its replica is promoted, then succeed within seconds (go-redis
// alone kept dialling the dead master for up to a minute); members on both
// instances get every acknowledged message, or a gap naming it; readiness
// comes back by itself.
func TestChatClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	a, b := clusterChat(t, c)
	const room = "failover"
	var members []*wsClient
	for _, s := range []*server{a, b} {
		ws := dialChat(t, s, "/ws/chat/"+room)
		ws.next("joined")
		members = append(members, ws)
	}
	var acked []string
	for i := 0; i < 5; i++ {
		acked = append(acked, post(t, b, room, fmt.Sprint("before-", i))["id"].(string))
	}
	victim := c.MasterOf("redlane:chat:{" + room + "}")
	// Readiness is watched throughout: it must say so while the room's
	// master is gone, and come back by itself.
	notReady := make(chan time.Duration, 1)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	victim.Stop()
	killed := time.Now()
	go func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(100 * time.Millisecond):
			}
			resp, err := http.Get(a.URL + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 503 {
					notReady <- time.Since(killed)
					return
				}
			}
		}
	}()
	var recovered time.Duration
	fails := map[int]int{}
	for deadline := killed.Add(45 * time.Second); time.Now().Before(deadline) && len(acked) < 15; {
		id, status := tryPost(b, room, fmt.Sprint("during-", len(acked)))
		if id == "" {
			fails[status]++
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if recovered == 0 {
			recovered = time.Since(killed)
		}
		acked = append(acked, id)
	}
	t.Logf("master killed: publishes acknowledged again after %s; refused meanwhile: %v", recovered.Round(time.Millisecond), fails)
	if recovered == 0 || recovered > 20*time.Second {
		t.Fatalf("publishes did not recover within 20s of the kill (node timeout 2s): %s, refused %v", recovered, fails)
	}
	for status := range fails {
		if status != 503 {
			t.Errorf("a publish during the failover answered %d, want 503", status)
		}
	}
	for i, ws := range members {
		gaps := ws.received(acked)
		t.Logf("member on instance %d: %d gap frames %v", i, len(gaps), gaps)
	}
	select {
	case d := <-notReady:
		t.Logf("instance a not ready %s after the kill", d.Round(time.Millisecond))
	default:
		t.Error("readiness never said the room's master was gone")
	}
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)
}

// TestChatClusterReplicationLossIsAGap: the master acknowledges messages its
// replica never gets (its replication link is cut), then dies; the replica
// is promoted without them. A member that was live, and a client resuming
// from before the lost messages, each get a gap frame naming them instead
// of a silent hole (the predecessor chain of the surviving history looks
// whole).
func TestChatClusterReplicationLossIsAGap(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	a, b := clusterChat(t, c)
	const room = "lossy"
	live := dialChat(t, a, "/ws/chat/"+room)
	live.next("joined")
	first := post(t, b, room, "replicated")["id"].(string)
	live.received([]string{first})
	time.Sleep(200 * time.Millisecond) // replicated by now

	master := c.MasterOf("redlane:chat:{" + room + "}")
	replica := c.ReplicaOf(master)
	if replica == nil {
		t.Fatal("the room's master has no replica")
	}
	// Cut the link: the replica can no longer authenticate to its master,
	// and its current link is killed. Connections already open (Redlane's)
	// stay authenticated.
	ctx := context.Background()
	mc := redis.NewClient(&redis.Options{Addr: master.Addr()})
	defer mc.Close()
	if err := mc.ConfigSet(ctx, "requirepass", "cut-the-replica").Err(); err != nil {
		t.Fatal(err)
	}
	if err := mc.ClientKillByFilter(ctx, "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	var lost []string
	for i := 0; i < 5; i++ {
		lost = append(lost, post(t, b, room, fmt.Sprint("unreplicated-", i))["id"].(string))
	}
	live.received(lost) // delivered live before the master dies
	master.Stop()

	var after []string
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline) && len(after) < 3; {
		if id, _ := tryPost(b, room, fmt.Sprint("after-", len(after))); id != "" {
			after = append(after, id)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(after) < 3 {
		t.Fatal("publishes did not recover after the failover")
	}
	h := b.do("GET", fmt.Sprintf("/chat/history?room=%s&limit=50", room), "").JSON(t)
	for _, m := range h["messages"].([]any) {
		for _, id := range lost {
			if m.(map[string]any)["id"] == id {
				t.Fatalf("lost message %s is in the new master's history: the link was not cut", id)
			}
		}
	}

	// The live member: the first message after the failover comes after
	// a gap (it had every lost message, but cannot know that nobody else
	// missed them).
	gaps := live.received(after)
	if len(gaps) == 0 {
		t.Fatal("the live member got the messages after the failover without a gap frame")
	}
	// The resuming client had only the first message: the lost ones must
	// be covered by a gap, then the rest arrive.
	resumed := dialChat(t, a, "/ws/chat/"+room+"?since="+first)
	rgaps := resumed.received(append(append([]string{}, lost...), after...))
	if len(rgaps) == 0 {
		t.Fatal("a client resuming from before the lost messages got no gap frame")
	}
	t.Logf("live member gaps %v; resumed client gaps %v", gaps, rgaps)
}
