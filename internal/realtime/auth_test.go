package realtime

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/web"
)

// chatServer runs a hub on the embedded Redis behind a bare router; the
// X-Test-User header stands in for the sessions middleware on POSTs.
func chatServer(t *testing.T, requireAuth bool, auth Authenticate) (*httptest.Server, *Hub) {
	t.Helper()
	cfg := config.Default()
	cfg.Spec.Realtime.RequireAuthentication = requireAuth
	rc, err := redisx.Open(cfg.Spec.Redis, redisx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	h := New(Options{Config: config.NewStore(cfg, ""), Redis: rc, Registry: prometheus.NewRegistry(), Authenticate: auth})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.Run(ctx); close(done) }()
	r := mux.NewRouter()
	r.Handle("/ws/chat/{room}", h.HandleSocket())
	r.Handle("/chat/message", h.HandlePostMessage())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u := req.Header.Get("X-Test-User"); u != "" {
			req = req.WithContext(web.WithPrincipal(req.Context(), &web.Principal{Username: u, Role: "user"}))
		}
		r.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		srv.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = h.Shutdown(sctx)
		cancel()
		<-done
	})
	return srv, h
}

func bearer(r *http.Request) (*web.Principal, error) {
	switch r.Header.Get("Authorization") {
	case "":
		return nil, nil
	case "Bearer good":
		return &web.Principal{Username: "alice", Role: "user"}, nil
	}
	return nil, errors.New("unknown session")
}

func TestAuthenticatedSocketsCarryTheUser(t *testing.T) {
	srv, _ := chatServer(t, true, bearer)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/chat/room1"

	// Anonymous and bad sessions are refused before the upgrade.
	for _, hdr := range []string{"", "Bearer bad"} {
		h := http.Header{}
		if hdr != "" {
			h.Set("Authorization", hdr)
		}
		_, resp, err := websocket.DefaultDialer.Dial(url, h)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("dial with %q: %v %v, want 401", hdr, err, resp)
		}
	}
	ws, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer good"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	readUntil := func(typ string) string {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v", typ, err)
			}
			if strings.Contains(string(b), `"type":"`+typ+`"`) {
				return string(b)
			}
		}
	}
	readUntil("joined")
	_ = ws.WriteMessage(websocket.TextMessage, []byte("hello as alice"))
	if m := readUntil("message"); !strings.Contains(m, `"sender":"alice"`) {
		t.Fatalf("message %s", m)
	}

	// POST: anonymous is refused; the request's principal is the sender.
	post := func(user string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+"/chat/message", strings.NewReader(`{"room":"room1","message":"via http"}`))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.Header.Set("X-Test-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous POST = %d %s", code, body)
	}
	if code, body := post("bob"); code != 200 || !strings.Contains(body, `"sender":"bob"`) {
		t.Fatalf("POST as bob = %d %s", code, body)
	}
	if m := readUntil("message"); !strings.Contains(m, `"sender":"bob"`) {
		t.Fatalf("message %s", m)
	}
}
