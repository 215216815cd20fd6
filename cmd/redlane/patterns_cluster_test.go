package main

import (
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/redistest"
)

// TestPatternsOnClusterHTTP drives locks, the queue and leaderboards
// through the server on a real Cluster: every script's keys share a slot.
func TestPatternsOnClusterHTTP(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	s := startServer(t, map[string]string{"REDIS_ADDRS": strings.Join(c.Addrs(), ",")})

	for _, name := range []string{"alpha", "beta", "gamma", "delta"} { // spread over slots
		l := decodeInto[lockAnswer](t, s.do("POST", "/locks/"+name, `{"ttl":5}`))
		if r := s.do("PUT", "/locks/"+name, `{"token":"`+l.Token+`","ttl":5}`); r.Status != 200 {
			t.Fatalf("extend %s = %d %s", name, r.Status, r.Body)
		}
		if r := s.do("DELETE", "/locks/"+name, "", "Lock-Token", l.Token); r.Status != 204 {
			t.Fatalf("release %s = %d %s", name, r.Status, r.Body)
		}

		if r := s.do("POST", "/queues/"+name+"/tasks", `{"payload":1,"uniqueKey":"u"}`); r.Status != 201 {
			t.Fatalf("enqueue on %s = %d %s", name, r.Status, r.Body)
		}
		cl := decodeInto[claimed](t, s.do("POST", "/queues/"+name+"/claim", `{"wait":1}`))
		if len(cl.Tasks) != 1 {
			t.Fatalf("claim on %s = %+v", name, cl)
		}
		if r := s.do("POST", "/queues/"+name+"/tasks/"+cl.Tasks[0].ID+"/ack", `{"receipt":"`+cl.Tasks[0].Receipt+`"}`); r.Status != 204 {
			t.Fatalf("ack on %s = %d %s", name, r.Status, r.Body)
		}

		if r := s.do("POST", "/leaderboards/"+name+"/scores", `{"member":"m","score":3,"periods":["daily","weekly"]}`); r.Status != 200 {
			t.Fatalf("score on %s = %d %s", name, r.Status, r.Body)
		}
		if r := s.do("GET", "/leaderboards/"+name+"/members/m?period=weekly", ""); r.Status != 200 {
			t.Fatalf("member on %s = %d %s", name, r.Status, r.Body)
		}
	}
}
