package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redlane/redlane/internal/redistest"
)

type lockAnswer struct {
	Token string `json:"token"`
	Fence int64  `json:"fence"`
	TTLms int64  `json:"ttlMs"`
}

func decodeInto[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
	return v
}

func TestLocksHTTP(t *testing.T) {
	rs := redistest.Start(t)
	env := map[string]string{"REDIS_URL": rs.URL()}
	s1, s2 := startServer(t, env), startServer(t, env)

	t.Run("acquire, extend, release only with the token", func(t *testing.T) {
		r := s1.do("POST", "/locks/report/daily", `{"ttl":"5s"}`)
		if r.Status != 201 {
			t.Fatalf("acquire = %d %s", r.Status, r.Body)
		}
		l := decodeInto[lockAnswer](t, r)
		if l.Token == "" || l.Fence < 1 || l.TTLms != 5000 {
			t.Fatalf("lease = %s", r.Body)
		}
		if r := s2.do("POST", "/locks/report/daily", `{"ttl":1,"wait":0}`); r.Status != 409 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("second acquire = %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
		}
		if r := s2.do("PUT", "/locks/report/daily", `{"token":"wrong","ttl":60}`); r.Status != 409 {
			t.Fatalf("extend with wrong token = %d %s", r.Status, r.Body)
		}
		if r := s2.do("DELETE", "/locks/report/daily", `{"token":"wrong"}`); r.Status != 409 {
			t.Fatalf("release with wrong token = %d %s", r.Status, r.Body)
		}
		if r := s2.do("DELETE", "/locks/report/daily", "", "Lock-Token", "wrong"); r.Status != 409 {
			t.Fatalf("release with wrong Lock-Token = %d %s", r.Status, r.Body)
		}
		g := decodeInto[lockAnswer](t, s2.do("GET", "/locks/report/daily", ""))
		if g.Fence != l.Fence || g.TTLms > 5000 || g.Token != "" {
			t.Fatalf("lease changed or token shown after wrong-token calls: %+v", g)
		}
		if r := s2.do("PUT", "/locks/report/daily", `{"token":"`+l.Token+`","ttl":"60s"}`); r.Status != 200 || decodeInto[lockAnswer](t, r).Fence != l.Fence {
			t.Fatalf("extend = %d %s", r.Status, r.Body)
		}
		if r := s2.do("DELETE", "/locks/report/daily", "", "Lock-Token", l.Token); r.Status != 204 {
			t.Fatalf("release = %d %s", r.Status, r.Body)
		}
		if r := s1.do("GET", "/locks/report/daily", ""); r.Status != 404 {
			t.Fatalf("released lock still shown: %d %s", r.Status, r.Body)
		}
		if r := s1.do("POST", "/locks/report/daily", ""); r.Status != 201 || decodeInto[lockAnswer](t, r).Fence <= l.Fence {
			t.Fatalf("reacquire = %d %s", r.Status, r.Body)
		}
	})

	t.Run("bad input is a 4xx naming the field, nothing changes", func(t *testing.T) {
		long := strings.Repeat("n", 201)
		tests := []struct {
			path, body string
			code       int
			field      string
		}{
			{"/locks/bad", `{"ttl":-1}`, 422, "ttl"},
			{"/locks/bad", `{"ttl":"-5s"}`, 422, "ttl"},
			{"/locks/bad", `{"ttl":"soon"}`, 422, "ttl"},
			{"/locks/bad", `{"ttl":1e300}`, 422, "ttl"},
			{"/locks/bad", `{"ttl":"1000h"}`, 422, "ttl"},
			{"/locks/bad", `{"wait":-1}`, 422, "wait"},
			{"/locks/bad", `{"wait":"2h"}`, 422, "wait"},
			{"/locks/bad", `{"wait":120}`, 422, "wait"},
			{"/locks/bad", `{"ttl":5,"owner":"me"}`, 400, "owner"},
			{"/locks/bad", `{"ttl":true}`, 422, "ttl"},
			{"/locks/" + long, `{"ttl":5}`, 400, "name"},
			{"/locks/a%7Bb%7D", `{"ttl":5}`, 400, "name"},
		}
		for _, tc := range tests {
			r := s1.do("POST", tc.path, tc.body)
			if r.Status != tc.code || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("POST %.30s %s = %d %s, want %d naming %s", tc.path, tc.body, r.Status, r.Body, tc.code, tc.field)
			}
		}
		if r := s1.do("GET", "/locks/bad", ""); r.Status != 404 {
			t.Fatalf("a rejected request took the lock: %d %s", r.Status, r.Body)
		}
		if r := s1.do("PUT", "/locks/bad", `{"ttl":5}`); r.Status != 422 {
			t.Fatalf("extend without token = %d %s", r.Status, r.Body)
		}
	})

	t.Run("two servers never admit two holders", func(t *testing.T) {
		var (
			inside atomic.Int32
			mu     sync.Mutex
			last   int64
			wg     sync.WaitGroup
			errs   = make(chan error, 100)
		)
		for w := 0; w < 6; w++ {
			s := []*server{s1, s2}[w%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					r := s.do("POST", "/locks/critical", `{"ttl":"10s","wait":"20s"}`)
					if r.Status != 201 {
						errs <- fmt.Errorf("acquire = %d %s", r.Status, r.Body)
						return
					}
					var l lockAnswer
					_ = json.Unmarshal(r.Body, &l)
					if inside.Add(1) != 1 {
						errs <- errors.New("two holders at once")
					}
					mu.Lock()
					if l.Fence <= last {
						errs <- fmt.Errorf("fence %d after %d", l.Fence, last)
					}
					last = l.Fence
					mu.Unlock()
					inside.Add(-1)
					if r := s.do("DELETE", "/locks/critical", `{"token":"`+l.Token+`"}`); r.Status != 204 {
						errs <- fmt.Errorf("release = %d %s", r.Status, r.Body)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("redis down fails closed with 503", func(t *testing.T) {
		rs.Stop()
		defer rs.Restart()
		if r := s1.do("POST", "/locks/down", `{"ttl":5}`); r.Status != 503 {
			t.Fatalf("acquire with Redis down = %d %s", r.Status, r.Body)
		}
	})
}
