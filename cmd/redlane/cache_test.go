package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redlane/redlane/internal/pgtest"
	"github.com/redlane/redlane/internal/redistest"
)

var adminAuth = []string{"Authorization", "Bearer " + adminToken}

// cacheConfig writes a RedlaneConfig whose spec.cache is the given YAML
// (indented under cache:) and returns its path.
func cacheConfig(t *testing.T, cacheYAML string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, p, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  cache:\n"+cacheYAML)
	return p
}

// podStats reads this pod's counters of the user namespace from /cache/stats.
func podStats(t *testing.T, s *server) map[string]float64 {
	t.Helper()
	r := s.do("GET", "/cache/stats", "")
	var st struct {
		Pod struct {
			Namespaces map[string]map[string]float64 `json:"namespaces"`
		} `json:"pod"`
	}
	if err := json.Unmarshal(r.Body, &st); err != nil || r.Status != 200 {
		t.Fatalf("/cache/stats = %d %s", r.Status, r.Body)
	}
	return st.Pod.Namespaces["user"]
}

func xcache(r response) string { return r.Header.Get("X-Cache") }

func TestCachingAPI(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        func(t *testing.T) (map[string]string, redis.UniversalClient)
		embeddedDB bool // the users database is the embedded SQLite, which has demo users only when asked
	}{
		{"standalone redis, embedded sqlite", func(t *testing.T) (map[string]string, redis.UniversalClient) {
			rs := redistest.Start(t)
			return map[string]string{"REDIS_URL": rs.URL()}, rs.Client()
		}, true},
		{"redis cluster, postgres", func(t *testing.T) (map[string]string, redis.UniversalClient) {
			c := redistest.StartCluster(t, 3, 0)
			url := pgtest.Database(t)
			if out, _, err := runCLI(t, map[string]string{"DATABASE_URL": url}, "db", "seed", "--users", "300"); err != nil {
				t.Fatalf("seeding: %v %s", err, out)
			}
			return map[string]string{"REDIS_ADDRS": strings.Join(c.Addrs(), ","), "DATABASE_URL": url}, c.Client()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, rdb := tc.env(t)
			env["ADMIN_TOKEN"] = adminToken
			var args []string
			if tc.embeddedDB {
				args = withDemoUsers(t)
			}
			s := startServer(t, env, args...)
			s.waitStatus("/readyz", 200, readyWithin)
			testCachingAPI(t, s, rdb)
		})
	}
}

func testCachingAPI(t *testing.T, s *server, rdb redis.UniversalClient) {
	ctx := context.Background()
	exists := func(key string) bool {
		n, err := rdb.Exists(ctx, "redlane:cache:{"+key+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	t.Run("miss, hit, etag, 304", func(t *testing.T) {
		first := s.do("GET", "/users/1", "")
		if first.Status != 200 || xcache(first) != "MISS" || first.Header.Get("Cache-Status") != "redlane; fwd=miss; stored" {
			t.Fatalf("first GET = %d %v %s", first.Status, first.Header, first.Body)
		}
		m := first.JSON(t)
		if m["username"] != "user1" || m["password_hash"] != nil || bytes.Contains(first.Body, []byte("argon2")) {
			t.Fatalf("user body %s", first.Body)
		}
		second := s.do("GET", "/users/1", "")
		if xcache(second) != "HIT" || second.Header.Get("Cache-Status") != "redlane; hit" || !bytes.Equal(first.Body, second.Body) {
			t.Fatalf("second GET = %v %s", second.Header, second.Body)
		}
		etag := second.Header.Get("ETag")
		if etag == "" || etag != first.Header.Get("ETag") {
			t.Fatalf("etags %q %q", etag, first.Header.Get("ETag"))
		}
		nm := s.do("GET", "/users/1", "", "If-None-Match", etag)
		if nm.Status != 304 || len(nm.Body) != 0 || nm.Header.Get("ETag") != etag {
			t.Fatalf("If-None-Match = %d %q", nm.Status, nm.Body)
		}
		if r := s.do("GET", "/users/1", "", "If-None-Match", `"other"`); r.Status != 200 {
			t.Fatalf("non-matching If-None-Match = %d", r.Status)
		}
	})

	t.Run("missing users are cached negatively", func(t *testing.T) {
		a := s.do("GET", "/users/999999", "")
		b := s.do("GET", "/users/999999", "")
		if a.Status != 404 || b.Status != 404 || xcache(a) != "MISS" || xcache(b) != "HIT" {
			t.Fatalf("404s: %d %s, %d %s", a.Status, xcache(a), b.Status, xcache(b))
		}
		ttl := s.do("GET", "/cache/keys/user:999999/ttl", "").JSON(t)
		if ttl["negative"] != true || ttl["ttl_ms"].(float64) > 30000 || ttl["ttl_ms"].(float64) <= 0 {
			t.Fatalf("negative entry ttl %v", ttl)
		}
	})

	t.Run("ttl of an entry", func(t *testing.T) {
		r := s.do("GET", "/cache/keys/user:1/ttl", "")
		m := r.JSON(t)
		ms := m["ttl_ms"].(float64)
		// defaultTTL 5m + up to 10% jitter + 30s stale window
		if r.Status != 200 || ms <= 4*60*1000 || ms > (330+30)*1000 || m["stale"] != false || m["negative"] != false {
			t.Fatalf("ttl = %d %s", r.Status, r.Body)
		}
		if r := s.do("GET", "/cache/keys/user:424242/ttl", ""); r.Status != 404 {
			t.Fatalf("ttl of an absent key = %d", r.Status)
		}
	})

	t.Run("batch: one round trip, misses in one query", func(t *testing.T) {
		before := podStats(t, s)
		r := s.do("GET", "/users?ids=1,2,3,999999,2", "")
		var body struct {
			Users   []map[string]any `json:"users"`
			Missing []int64          `json:"missing"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || r.Status != 200 {
			t.Fatalf("batch = %d %s", r.Status, r.Body)
		}
		if len(body.Users) != 3 || body.Users[0]["id"].(float64) != 1 || body.Users[2]["id"].(float64) != 3 ||
			len(body.Missing) != 1 || body.Missing[0] != 999999 || xcache(r) != "PARTIAL" {
			t.Fatalf("batch body %s, X-Cache %s", r.Body, xcache(r))
		}
		after := podStats(t, s)
		if d := after["loads"] - before["loads"]; d != 1 {
			t.Fatalf("batch with 2 misses made %v database loads, want 1", d)
		}
		r = s.do("GET", "/users?ids=1,2,3", "")
		if xcache(r) != "HIT" {
			t.Fatalf("second batch X-Cache %s", xcache(r))
		}
		if nm := s.do("GET", "/users?ids=1,2,3", "", "If-None-Match", r.Header.Get("ETag")); nm.Status != 304 {
			t.Fatalf("batch If-None-Match = %d", nm.Status)
		}
	})

	t.Run("writes invalidate", func(t *testing.T) {
		s.do("GET", "/users/2", "")
		if r := s.do("GET", "/users/2", ""); xcache(r) != "HIT" {
			t.Fatalf("not cached: %s", xcache(r))
		}
		if r := s.do("PATCH", "/users/2", `{"display_name":"Patched"}`, adminAuth...); r.Status != 200 {
			t.Fatalf("PATCH = %d %s", r.Status, r.Body)
		}
		if r := s.do("GET", "/users/2", ""); r.JSON(t)["display_name"] != "Patched" {
			t.Fatalf("after PATCH: %s", r.Body)
		}
		if r := s.do("PUT", "/users/2", `{"username":"user2","email":"u2@example.com","display_name":"Put"}`, adminAuth...); r.Status != 200 {
			t.Fatalf("PUT = %d %s", r.Status, r.Body)
		}
		if r := s.do("GET", "/users/2", ""); r.JSON(t)["email"] != "u2@example.com" {
			t.Fatalf("after PUT: %s", r.Body)
		}
		if r := s.do("GET", "/users?ids=2", ""); !bytes.Contains(r.Body, []byte("u2@example.com")) {
			t.Fatalf("batch after PUT: %s", r.Body)
		}
		s.do("GET", "/users/3", "")
		if r := s.do("DELETE", "/users/3", "", adminAuth...); r.Status != 204 {
			t.Fatalf("DELETE = %d %s", r.Status, r.Body)
		}
		if r := s.do("GET", "/users/3", ""); r.Status != 404 {
			t.Fatalf("after DELETE = %d", r.Status)
		}
		// A negative entry for the next id must not hide a new user.
		s.do("GET", "/users/301", "")
		r := s.do("POST", "/users", `{"username":"newbie","email":"n@example.com","password":"long enough"}`, adminAuth...)
		if r.Status != 201 || r.Header.Get("Location") != "/users/301" {
			t.Fatalf("POST = %d %s %s", r.Status, r.Header.Get("Location"), r.Body)
		}
		if r := s.do("GET", "/users/301", ""); r.Status != 200 || r.JSON(t)["username"] != "newbie" {
			t.Fatalf("new user = %d %s", r.Status, r.Body)
		}
	})

	t.Run("paged list through the response cache", func(t *testing.T) {
		a := s.do("GET", "/users?limit=2", "")
		b := s.do("GET", "/users?limit=2", "")
		if a.Status != 200 || xcache(b) != "HIT" || !bytes.Equal(a.Body, b.Body) || !strings.HasPrefix(b.Header.Get("Cache-Control"), "public, max-age=") {
			t.Fatalf("list: %d %s %s %v", a.Status, xcache(a), xcache(b), b.Header)
		}
		if m := a.JSON(t); m["next_after"].(float64) != 2 {
			t.Fatalf("next_after %v", m["next_after"])
		}
		s.do("PATCH", "/users/1", `{"display_name":"Listed"}`, adminAuth...)
		if c := s.do("GET", "/users?limit=2", ""); xcache(c) != "MISS" || !bytes.Contains(c.Body, []byte("Listed")) {
			t.Fatalf("list after a write: %s %s", xcache(c), c.Body)
		}
		if r := s.do("GET", "/users?limit=2", "", "Authorization", "Bearer x"); !strings.Contains(r.Header.Get("Cache-Status"), "bypass") {
			t.Fatalf("credentialed request was served from the shared cache: %v", r.Header)
		}
	})

	t.Run("every cache key expires", func(t *testing.T) {
		var keys []string
		scan := func(ctx context.Context, c *redis.Client) error {
			ks, err := c.Keys(ctx, "redlane:cache:*").Result()
			keys = append(keys, ks...)
			return err
		}
		if cc, ok := rdb.(*redis.ClusterClient); ok {
			var mu sync.Mutex
			if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				mu.Lock()
				defer mu.Unlock()
				return scan(ctx, c)
			}); err != nil {
				t.Fatal(err)
			}
		} else if err := scan(ctx, rdb.(*redis.Client)); err != nil {
			t.Fatal(err)
		}
		if len(keys) < 5 {
			t.Fatalf("only %d cache keys: %v", len(keys), keys)
		}
		for _, k := range keys {
			if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 {
				t.Errorf("key %s has no expiry (PTTL %v)", k, ttl)
			}
		}
	})

	t.Run("bad input is a 4xx and changes nothing", func(t *testing.T) {
		s.do("GET", "/users/1", "")
		for _, tc := range []struct {
			method, path, body string
			status             int
			field              string
			auth               bool
		}{
			{"GET", "/users/abc", "", 400, "id", false},
			{"GET", "/users/0", "", 400, "id", false},
			{"GET", "/users/-4", "", 400, "id", false},
			{"GET", "/users/99999999999999999999", "", 400, "id", false},
			{"GET", "/users?ids=1,x", "", 400, "ids", false},
			{"GET", "/users?ids=", "", 400, "ids", false},
			{"GET", "/users?ids=" + strings.Repeat("7,", 100) + strings.Repeat("8,", 1) + idsFrom(1, 101), "", 400, "ids", false},
			{"GET", "/users?ids=1&limit=2", "", 400, "limit", false},
			{"GET", "/users?limit=0", "", 400, "limit", false},
			{"GET", "/users?limit=2&sort=name", "", 400, "sort", false},
			{"POST", "/cache/clear", `{"pattern":"*"}`, 400, "pattern", true},
			{"POST", "/cache/clear", `{"pattern":"*user:*"}`, 400, "pattern", true},
			{"POST", "/cache/clear", `{"pattern":"session:*"}`, 400, "pattern", true},
			{"POST", "/cache/clear", `{"keys":["user:*"]}`, 400, "keys[0]", true},
			{"POST", "/cache/clear", `{"keys":["user:1","session:1"]}`, 400, "keys[1]", true},
			{"POST", "/cache/clear", `{"pattern":"user:*","extra":1}`, 400, "extra", true},
			{"POST", "/cache/clear", `{"pattern":"user:*","keys":["user:1"]}`, 422, "pattern", true},
			{"POST", "/cache/clear", `{"pattern":"user:*"`, 400, "", true},
			{"POST", "/cache/clear", `{"pattern":"user:*"}`, 401, "", false},
			{"POST", "/cache/warm", `{"top":0}`, 422, "top", true},
			{"POST", "/cache/warm", `{"ids":[1],"top":3}`, 422, "ids", true},
			{"POST", "/cache/warm", `{"ids":[1,-2]}`, 422, "ids[1]", true},
			{"POST", "/users", `{"username":"x y","email":"bad","password":"short"}`, 422, "email", true},
			{"POST", "/users", `{"username":"okname","email":"o@example.com","password":"long enough","admin":true}`, 400, "admin", true},
			{"POST", "/users", `{"username":"user1","email":"o@example.com","password":"long enough"}`, 409, "username", true},
			{"POST", "/users", `{"username":"okname","email":"o@example.com","password":"long enough"}`, 401, "", false},
			{"PATCH", "/users/abc", `{"display_name":"x"}`, 400, "id", true},
			{"PATCH", "/users/1", `{}`, 422, "body", true},
			{"PATCH", "/users/1", `{"role":"root"}`, 422, "role", true},
			{"PATCH", "/users/888888", `{"display_name":"x"}`, 404, "", true},
			{"DELETE", "/users/1", "", 401, "", false},
			{"GET", "/cache/keys/*/ttl", "", 400, "key", false},
			{"GET", "/cache/keys/session:1/ttl", "", 400, "key", false},
		} {
			var h []string
			if tc.auth {
				h = adminAuth
			}
			r := s.do(tc.method, tc.path, tc.body, h...)
			if r.Status != tc.status || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%s %s %s = %d %s, want %d problem", tc.method, tc.path, tc.body, r.Status, r.Body, tc.status)
				continue
			}
			if tc.field != "" && !bytes.Contains(r.Body, []byte(`"field":"`+tc.field+`"`)) {
				t.Errorf("%s %s %s: problem does not name %q: %s", tc.method, tc.path, tc.body, tc.field, r.Body)
			}
		}
		if !exists("user:1") {
			t.Fatal("a refused clear deleted user:1")
		}
		if r := s.do("GET", "/users/1", ""); r.JSON(t)["username"] != "user1" || r.JSON(t)["display_name"] != "Listed" {
			t.Fatalf("a refused write changed user 1: %s", r.Body)
		}
		if r := s.do("GET", "/users?limit=500", ""); bytes.Contains(r.Body, []byte("okname")) {
			t.Fatal("a refused POST created a user")
		}
	})

	t.Run("clear by keys and by pattern", func(t *testing.T) {
		s.do("GET", "/users/4", "")
		s.do("GET", "/users/5", "")
		r := s.do("POST", "/cache/clear", `{"keys":["user:4","user:5","user:77777"]}`, adminAuth...)
		if r.Status != 200 || r.JSON(t)["deleted"].(float64) != 2 || exists("user:4") {
			t.Fatalf("clear keys = %d %s", r.Status, r.Body)
		}
		for i := 10; i < 60; i++ {
			s.do("GET", "/users/"+strconv.Itoa(i), "")
		}
		r = s.do("POST", "/cache/clear", `{"pattern":"user:*"}`, adminAuth...)
		if r.Status != 200 || r.JSON(t)["deleted"].(float64) < 50 || exists("user:1") || exists("user:10") {
			t.Fatalf("clear pattern = %d %s", r.Status, r.Body)
		}
		if r := s.do("GET", "/users/10", ""); xcache(r) != "MISS" {
			t.Fatalf("after clear: %s", xcache(r))
		}
	})

	t.Run("stats", func(t *testing.T) {
		r := s.do("GET", "/cache/stats", "")
		var st struct {
			Pod     struct{ Total map[string]float64 }  `json:"pod"`
			AllPods *struct{ Total map[string]float64 } `json:"all_pods"`
			Keys    struct{ Namespaces map[string]float64 }
			Redis   struct {
				Nodes        int   `json:"nodes"`
				UsedMemory   int64 `json:"used_memory_bytes"`
				KeyspaceHits int64 `json:"keyspace_hits"`
			} `json:"redis"`
			Breaker string `json:"redis_breaker"`
		}
		if err := json.Unmarshal(r.Body, &st); err != nil {
			t.Fatal(err)
		}
		if st.Pod.Total["hits"] < 5 || st.Pod.Total["misses"] < 5 || st.Pod.Total["hit_rate"] <= 0 || st.AllPods == nil ||
			st.Keys.Namespaces["user"] < 1 || st.Redis.Nodes < 1 || st.Redis.UsedMemory <= 0 || st.Redis.KeyspaceHits <= 0 || st.Breaker != "closed" {
			t.Fatalf("stats %s", r.Body)
		}
		m := string(s.do("GET", "/metrics", "").Body)
		for _, want := range []string{`redlane_cache_requests_total{cache_namespace="user",result="hit"}`, "redlane_cache_load_duration_seconds_bucket",
			"redlane_cache_near_entries", "redlane_cache_invalidations_sent_total", "redlane_cache_invalidations_received_total"} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

func idsFrom(a, b int) string {
	var parts []string
	for i := a; i <= b; i++ {
		parts = append(parts, strconv.Itoa(i))
	}
	return strings.Join(parts, ",")
}

// startTwoPods starts two ready servers, as two pods, on one Redis and one
// PostgreSQL seeded with users, both with the given spec.cache YAML.
func startTwoPods(t *testing.T, users int, cacheYAML string) (rs *redistest.Server, a, b *server) {
	t.Helper()
	rs = redistest.Start(t)
	url := pgtest.Database(t)
	if _, _, err := runCLI(t, map[string]string{"DATABASE_URL": url}, "db", "seed", "--users", strconv.Itoa(users)); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REDIS_URL": rs.URL(), "DATABASE_URL": url, "ADMIN_TOKEN": adminToken}
	cfg := cacheConfig(t, cacheYAML)
	a, b = startServer(t, env, "--config", cfg), startServer(t, env, "--config", cfg)
	a.waitStatus("/readyz", 200, readyWithin)
	b.waitStatus("/readyz", 200, readyWithin)
	return rs, a, b
}

// Two servers on one Redis and one PostgreSQL, as two pods.
func TestCacheAcrossTwoServers(t *testing.T) {
	rs, a, b := startTwoPods(t, 100, "    statsFlushInterval: 200ms\n")

	t.Run("concurrent misses: one load per pod at most, a few in all", func(t *testing.T) {
		ba, bb := podStats(t, a), podStats(t, b)
		var wg sync.WaitGroup
		for i := 0; i < 60; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				if r := s.do("GET", "/users/42", ""); r.Status != 200 {
					t.Errorf("GET = %d", r.Status)
				}
			}()
		}
		wg.Wait()
		la, lb := podStats(t, a)["loads"]-ba["loads"], podStats(t, b)["loads"]-bb["loads"]
		if la > 1 || lb > 1 || la+lb < 1 {
			t.Fatalf("60 concurrent misses over two pods: %v + %v database loads, want at most 1 per pod", la, lb)
		}
	})

	t.Run("a write on one pod is seen on the other at once", func(t *testing.T) {
		b.do("GET", "/users/7", "")
		if r := b.do("GET", "/users/7", ""); xcache(r) != "HIT" {
			t.Fatalf("b: %s", xcache(r))
		}
		for i := 0; i < 5; i++ {
			name := fmt.Sprintf("name-%d", i)
			if r := a.do("PATCH", "/users/7", `{"display_name":"`+name+`"}`, adminAuth...); r.Status != 200 {
				t.Fatalf("PATCH on a = %d %s", r.Status, r.Body)
			}
			if r := b.do("GET", "/users/7", ""); r.JSON(t)["display_name"] != name {
				t.Fatalf("b after a's write #%d: %s (%s)", i, r.Body, xcache(r))
			}
		}
	})

	t.Run("stats of all pods", func(t *testing.T) {
		waitUntil(t, 10*time.Second, func() bool {
			var st struct {
				Pod     struct{ Total map[string]float64 } `json:"pod"`
				AllPods struct{ Total map[string]float64 } `json:"all_pods"`
			}
			_ = json.Unmarshal(a.do("GET", "/cache/stats", "").Body, &st)
			hb := podStats(t, b)["hits"]
			return hb > 0 && st.AllPods.Total["hits"] >= st.Pod.Total["hits"]+hb
		})
	})

	t.Run("warming runs once across pods", func(t *testing.T) {
		rdb := rs.Client()
		ctx := context.Background()
		// Another pod holds the warm lock (internal/lock keeps a HASH {token, fence}).
		rdb.HSet(ctx, "redlane:lock:{cache-warm}", "token", "another-pod", "fence", 1)
		rdb.PExpire(ctx, "redlane:lock:{cache-warm}", time.Minute)
		if r := a.do("POST", "/cache/warm", `{"top":50}`, adminAuth...); r.Status != 409 {
			t.Fatalf("warm while another pod holds the lease = %d %s", r.Status, r.Body)
		}
		rdb.Del(ctx, "redlane:lock:{cache-warm}")
		a.do("POST", "/cache/clear", `{"pattern":"user:*"}`, adminAuth...)
		r := a.do("POST", "/cache/warm", `{"top":50}`, adminAuth...)
		if r.Status != 202 || r.JSON(t)["state"] != "running" {
			t.Fatalf("warm = %d %s", r.Status, r.Body)
		}
		waitUntil(t, 10*time.Second, func() bool {
			m := b.do("GET", "/cache/warm", "").JSON(t)
			return m["state"] == "done" && m["loaded"].(float64) == 50 && m["total"].(float64) == 50
		})
		if r := b.do("GET", "/users/50", ""); xcache(r) != "HIT" {
			t.Fatalf("warmed user not cached: %s", xcache(r))
		}
	})
}

func TestNearCacheAcrossTwoServers(t *testing.T) {
	// A long near TTL: only invalidation (Redis tracking here) can make b see the write in time.
	_, a, b := startTwoPods(t, 20, "    near: {enabled: true, ttl: 10m}\n")
	// With tracking, the entry b's miss stored is reported to b too, so it
	// goes into b's near cache on the next Redis hit, not the first fill.
	waitUntil(t, 5*time.Second, func() bool {
		return b.do("GET", "/users/3", "").Header.Get("Cache-Status") == "redlane; hit; detail=near"
	})
	if r := a.do("PATCH", "/users/3", `{"display_name":"fresh"}`, adminAuth...); r.Status != 200 {
		t.Fatal(r.Status)
	}
	start := time.Now()
	waitUntil(t, 5*time.Second, func() bool { return b.do("GET", "/users/3", "").JSON(t)["display_name"] == "fresh" })
	t.Logf("near cache on b invalidated %v after a's write", time.Since(start))
}

func TestCacheWhileRedisIsDown(t *testing.T) {
	rs := redistest.Start(t)
	cfg := cacheConfig(t, "    breakerFailures: 2\n    breakerOpenFor: 500ms\n    redisTimeout: 100ms\n"+demoUsersSpec)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, "--config", cfg)
	s.waitStatus("/readyz", 200, readyWithin)
	s.do("GET", "/users/1", "")
	if r := s.do("GET", "/users/1", ""); xcache(r) != "HIT" {
		t.Fatal(xcache(r))
	}
	rs.Stop()
	for i := 0; i < 10; i++ {
		start := time.Now()
		r := s.do("GET", "/users/1", "")
		if r.Status != 200 || xcache(r) != "BYPASS" || r.Header.Get("Cache-Status") != "redlane; fwd=bypass; detail=redis-unavailable" || r.JSON(t)["username"] != "user1" {
			t.Fatalf("Redis down, GET #%d = %d %v %s", i, r.Status, r.Header, r.Body)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Redis down, GET #%d took %v", i, d)
		}
	}
	if r := s.do("GET", "/users?ids=1,2", ""); r.Status != 200 || !bytes.Contains(r.Body, []byte(`"user2"`)) {
		t.Fatalf("batch with Redis down = %d %s", r.Status, r.Body)
	}
	// Writes are refused while the cache cannot invalidate, and change nothing.
	r := s.do("PATCH", "/users/1", `{"display_name":"while-down"}`, adminAuth...)
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("write with Redis down = %d %s", r.Status, r.Body)
	}
	if r := s.do("GET", "/users/1", ""); r.JSON(t)["display_name"] == "while-down" {
		t.Fatal("refused write changed the database")
	}
	rs.Restart()
	waitUntil(t, 15*time.Second, func() bool {
		x := xcache(s.do("GET", "/users/1", ""))
		return x == "HIT" || x == "MISS"
	})
	if r := s.do("PATCH", "/users/1", `{"display_name":"after"}`, adminAuth...); r.Status != 200 {
		t.Fatalf("write after recovery = %d %s", r.Status, r.Body)
	}
	if r := s.do("GET", "/users/1", ""); r.JSON(t)["display_name"] != "after" {
		t.Fatalf("after recovery: %s", r.Body)
	}
}

func TestCacheTTLsReload(t *testing.T) {
	rs := redistest.Start(t)
	cfg := cacheConfig(t, "    jitterPercent: 1\n    staleTTL: 1s\n    ttls: {user: 1m}\n"+demoUsersSpec)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}, "--config", cfg)
	s.waitStatus("/readyz", 200, readyWithin)
	s.do("GET", "/users/1", "")
	ttl := func() float64 { return s.do("GET", "/cache/keys/user:1/ttl", "").JSON(t)["ttl_ms"].(float64) }
	if ms := ttl(); ms > 62_000 || ms < 50_000 {
		t.Fatalf("ttl with ttls.user 1m = %vms", ms)
	}
	writeFile(t, cfg, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  cache:\n    jitterPercent: 1\n    staleTTL: 1s\n    ttls: {user: 20m}\n")
	waitUntil(t, 10*time.Second, func() bool {
		s.do("POST", "/cache/clear", `{"keys":["user:1"]}`, adminAuth...)
		s.do("GET", "/users/1", "")
		return ttl() > 19*60*1000
	})
}

func waitUntil(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
