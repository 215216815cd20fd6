package main

import (
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/redistest"
)

func TestLeaderboardHTTP(t *testing.T) {
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL()})

	for _, w := range []string{
		`{"member":"bob","score":70}`,
		`{"member":"carol","score":50,"periods":["daily","weekly"]}`,
		`{"member":"alice","score":50}`,
		`{"member":"dave","score":10,"mode":"incr"}`,
		`{"member":"dave","score":5,"mode":"incr"}`,
		`{"member":"bob","score":20,"mode":"best"}`,
	} {
		if r := s.do("POST", "/leaderboards/arena/scores", w); r.Status != 200 {
			t.Fatalf("POST %s = %d %s", w, r.Status, r.Body)
		}
	}
	r := s.do("GET", "/leaderboards/arena?top=3", "")
	body := string(r.Body)
	if r.Status != 200 || !strings.Contains(body, `"entries":[{"rank":1,"member":"bob","score":70},{"rank":2,"member":"alice","score":50},{"rank":3,"member":"carol","score":50}]`) ||
		!strings.Contains(body, `"next":3`) || !strings.Contains(body, `"size":4`) {
		t.Fatalf("top = %d %s", r.Status, body)
	}
	if r := s.do("GET", "/leaderboards/arena?top=3&offset=3", ""); !strings.Contains(string(r.Body), `[{"rank":4,"member":"dave","score":15}]`) || strings.Contains(string(r.Body), `"next"`) {
		t.Fatalf("second page = %s", r.Body)
	}
	r = s.do("GET", "/leaderboards/arena/members/alice?around=1", "")
	if m := r.JSON(t); r.Status != 200 || m["rank"] != float64(2) || m["score"] != float64(50) || len(m["entries"].([]any)) != 3 {
		t.Fatalf("member = %d %s", r.Status, r.Body)
	}
	if r := s.do("GET", "/leaderboards/arena/members/carol?period=daily", ""); r.Status != 200 || r.JSON(t)["rank"] != float64(1) {
		t.Fatalf("daily board = %d %s", r.Status, r.Body)
	}
	if r := s.do("GET", "/leaderboards/arena/members/zed", ""); r.Status != 404 {
		t.Fatalf("unknown member = %d", r.Status)
	}

	tests := []struct {
		method, path, body string
		code               int
		field              string
	}{
		{"POST", "/leaderboards/arena/scores", `{"member":"x"}`, 422, "score"},
		{"POST", "/leaderboards/arena/scores", `{"member":"x","score":1e300}`, 422, "score"},
		{"POST", "/leaderboards/arena/scores", `{"member":"x","score":"10"}`, 400, "score"},
		{"POST", "/leaderboards/arena/scores", `{"member":"","score":1}`, 422, "member"},
		{"POST", "/leaderboards/arena/scores", `{"member":"` + strings.Repeat("m", 300) + `","score":1}`, 422, "member"},
		{"POST", "/leaderboards/arena/scores", `{"member":"a/b","score":1}`, 422, "member"},
		{"POST", "/leaderboards/arena/scores", `{"member":"x","score":1,"mode":"max"}`, 422, "mode"},
		{"POST", "/leaderboards/arena/scores", `{"member":"x","score":1,"periods":["monthly"]}`, 422, "periods"},
		{"POST", "/leaderboards/arena/scores", `{"member":"x","score":1,"rank":1}`, 400, "rank"},
		{"POST", "/leaderboards/a%20b/scores", `{"member":"x","score":1}`, 400, "name"},
		{"GET", "/leaderboards/arena?top=0", "", 400, "top"},
		{"GET", "/leaderboards/arena?top=100000", "", 400, "top"},
		{"GET", "/leaderboards/arena?offset=-1", "", 400, "offset"},
		{"GET", "/leaderboards/arena?period=hourly", "", 400, "period"},
		{"GET", "/leaderboards/arena?period=daily&at=yesterday", "", 400, "at"},
		{"GET", "/leaderboards/arena/members/alice?around=1000", "", 400, "around"},
	}
	for _, tc := range tests {
		r := s.do(tc.method, tc.path, tc.body)
		if r.Status != tc.code || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("%s %s %.50s = %d %s, want %d naming %s", tc.method, tc.path, tc.body, r.Status, r.Body, tc.code, tc.field)
		}
	}
	if r := s.do("GET", "/leaderboards/arena", ""); !strings.Contains(string(r.Body), `"size":4`) {
		t.Fatalf("a rejected write changed the board: %s", r.Body)
	}

	// Increments stay within the bound, on every board of the write.
	for _, w := range []string{`{"member":"max","score":1e15,"periods":["daily"]}`, `{"member":"min","score":-1e15}`} {
		if r := s.do("POST", "/leaderboards/arena/scores", w); r.Status != 200 {
			t.Fatalf("POST %s = %d %s", w, r.Status, r.Body)
		}
	}
	for _, w := range []string{
		`{"member":"max","score":1,"mode":"incr"}`,
		`{"member":"max","score":0.5,"mode":"incr","periods":["daily"]}`,
		`{"member":"min","score":-1,"mode":"incr"}`,
		`{"member":"dave","score":1e15,"mode":"incr"}`, // 15 + 1e15
	} {
		if r := s.do("POST", "/leaderboards/arena/scores", w); r.Status != 422 || !strings.Contains(string(r.Body), `"field":"score"`) {
			t.Errorf("POST %s = %d %s, want 422 naming score", w, r.Status, r.Body)
		}
	}
	for member, want := range map[string]string{"max": `"score":1000000000000000`, "min": `"score":-1000000000000000`, "dave": `"score":15`} {
		if r := s.do("GET", "/leaderboards/arena/members/"+member, ""); !strings.Contains(string(r.Body), want) {
			t.Errorf("a refused increment changed %s: %s", member, r.Body)
		}
	}
	if r := s.do("POST", "/leaderboards/arena/scores", `{"member":"max","score":-1,"mode":"incr"}`); r.Status != 200 {
		t.Errorf("an increment back within the bound = %d %s", r.Status, r.Body)
	}
}
