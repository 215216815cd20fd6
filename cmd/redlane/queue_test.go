package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/redistest"
)

type claimed struct {
	Tasks []struct {
		Queue   string `json:"queue"`
		ID      string `json:"id"`
		Receipt string `json:"receipt"`
		Attempt int    `json:"attempt"`
		Payload any    `json:"payload"`
	} `json:"tasks"`
}

type queueStats struct {
	Ready, InFlight, Delayed, Dead int64
	Counters                       map[string]int64
}

func TestQueueHTTP(t *testing.T) {
	rs := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	env := map[string]string{"REDIS_URL": rs.URL(), "ADMIN_TOKEN": adminToken}
	s1, s2 := startServer(t, env), startServer(t, env)
	admin := bearer(adminToken)

	t.Run("a worker killed mid-task: delivered again after the visibility timeout", func(t *testing.T) {
		r := s1.do("POST", "/queues/mail/tasks", `{"payload":{"to":"a@example.com"}}`)
		if r.Status != 201 || r.Header.Get("Location") == "" {
			t.Fatalf("enqueue = %d %s", r.Status, r.Body)
		}
		id := r.JSON(t)["id"].(string)
		c := decodeInto[claimed](t, s1.do("POST", "/queues/mail/claim", `{"worker":"doomed","visibilityTimeout":"300ms"}`))
		if len(c.Tasks) != 1 || c.Tasks[0].ID != id {
			t.Fatalf("claim = %+v", c)
		}
		// The worker is killed: it never acks. Another server's worker waits.
		c2 := decodeInto[claimed](t, s2.do("POST", "/queues/mail/claim", `{"worker":"survivor","wait":"10s"}`))
		if len(c2.Tasks) != 1 || c2.Tasks[0].ID != id || c2.Tasks[0].Attempt != 2 {
			t.Fatalf("redelivery = %+v", c2)
		}
		if r := s1.do("POST", "/queues/mail/tasks/"+id+"/ack", `{"receipt":"`+c.Tasks[0].Receipt+`"}`); r.Status != 409 {
			t.Fatalf("late ack by the killed worker = %d %s", r.Status, r.Body)
		}
		if r := s2.do("POST", "/queues/mail/tasks/"+id+"/ack", `{"receipt":"`+c2.Tasks[0].Receipt+`"}`); r.Status != 204 {
			t.Fatalf("ack = %d %s", r.Status, r.Body)
		}
		if r := s2.do("GET", "/queues/mail/tasks/"+id, ""); r.Status != 404 {
			t.Fatalf("acked task still there: %d", r.Status)
		}
	})

	t.Run("retries then dead letters: list, requeue, delete", func(t *testing.T) {
		id := s1.do("POST", "/queues/dlq/tasks", `{"payload":"x","maxAttempts":1}`).JSON(t)["id"].(string)
		c := decodeInto[claimed](t, s1.do("POST", "/queues/dlq/claim", `{}`))
		r := s1.do("POST", "/queues/dlq/tasks/"+id+"/nack", `{"receipt":"`+c.Tasks[0].Receipt+`","error":"bad address"}`)
		if r.Status != 200 || r.JSON(t)["state"] != "dead" {
			t.Fatalf("nack = %d %s", r.Status, r.Body)
		}
		if anon := s2.do("GET", "/queues/dlq/dead?limit=10", ""); anon.Status != 401 {
			t.Fatalf("anonymous dead-letter list = %d", anon.Status)
		}
		l := s2.do("GET", "/queues/dlq/dead?limit=10", "", admin...)
		if l.Status != 200 || !strings.Contains(string(l.Body), `"lastError":"bad address"`) || l.JSON(t)["total"] != float64(1) {
			t.Fatalf("dead letters = %d %s", l.Status, l.Body)
		}
		if st := decodeInto[queueStats](t, s2.do("GET", "/queues/dlq", "")); st.Dead != 1 || st.Ready != 0 {
			t.Fatalf("stats = %+v", st)
		}
		if r := s2.do("POST", "/queues/dlq/dead/"+id+"/requeue", "", admin...); r.Status != 200 {
			t.Fatalf("requeue = %d %s", r.Status, r.Body)
		}
		if r := s2.do("DELETE", "/queues/dlq/dead/"+id, "", admin...); r.Status != 409 {
			t.Fatalf("delete of a live task from the dead letters = %d %s", r.Status, r.Body)
		}
		c = decodeInto[claimed](t, s1.do("POST", "/queues/dlq/claim", `{}`))
		_ = s1.do("POST", "/queues/dlq/tasks/"+id+"/nack", `{"receipt":"`+c.Tasks[0].Receipt+`"}`)
		if r := s2.do("DELETE", "/queues/dlq/dead/"+id, "", admin...); r.Status != 204 {
			t.Fatalf("delete = %d %s", r.Status, r.Body)
		}
		if st := decodeInto[queueStats](t, s2.do("GET", "/queues/dlq", "")); st.Dead+st.Ready+st.InFlight+st.Delayed != 0 || st.Counters["deadLettered"] != 2 {
			t.Fatalf("stats = %+v", st)
		}
	})

	t.Run("bad input is a 4xx naming the field, nothing changes", func(t *testing.T) {
		big := `{"payload":"` + strings.Repeat("x", 300<<10) + `"}`
		tests := []struct {
			method, path, body string
			code               int
			field              string
		}{
			{"POST", "/queues/bad/tasks", `{}`, 422, "payload"},
			{"POST", "/queues/bad/tasks", `{"payload":null}`, 422, "payload"},
			{"POST", "/queues/bad/tasks", `{"payload":1,"delay":-1}`, 422, "delay"},
			{"POST", "/queues/bad/tasks", `{"payload":1,"delay":"999999h"}`, 422, "delay"},
			{"POST", "/queues/bad/tasks", `{"payload":1,"maxAttempts":0}`, 422, "maxAttempts"},
			{"POST", "/queues/bad/tasks", `{"payload":1,"maxAttempts":1000}`, 422, "maxAttempts"},
			{"POST", "/queues/bad/tasks", `{"payload":1,"uniqueKey":"` + strings.Repeat("k", 300) + `"}`, 422, "uniqueKey"},
			{"POST", "/queues/bad/tasks", `{"payload":1,"priority":9}`, 400, "priority"},
			{"POST", "/queues/bad/tasks", big, 422, "payload"},
			{"POST", "/queues/bad%7Bx%7D/tasks", `{"payload":1}`, 400, "name"},
			{"POST", "/queues/bad/claim", `{"count":0}`, 422, "count"},
			{"POST", "/queues/bad/claim", `{"count":100000}`, 422, "count"},
			{"POST", "/queues/bad/claim", `{"visibilityTimeout":-5}`, 422, "visibilityTimeout"},
			{"POST", "/queues/bad/claim", `{"visibilityTimeout":"1000h"}`, 422, "visibilityTimeout"},
			{"POST", "/queues/bad/claim", `{"wait":"10m"}`, 422, "wait"},
			{"POST", "/queues/bad/tasks/0123456789abcdef01234567/ack", `{}`, 422, "receipt"},
			{"POST", "/queues/bad/tasks/0123456789abcdef01234567/nack", `{"receipt":"r","delay":"-1s"}`, 422, "delay"},
			{"GET", "/queues/bad/dead?limit=0", "", 400, "limit"},
			{"GET", "/queues/bad/dead?offset=-1", "", 400, "offset"},
		}
		for _, tc := range tests {
			r := s1.do(tc.method, tc.path, tc.body, admin...)
			if r.Status != tc.code || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
				t.Errorf("%s %s %.60s = %d %.300s, want %d naming %s", tc.method, tc.path, tc.body, r.Status, r.Body, tc.code, tc.field)
			}
		}
		if r := s1.do("POST", "/queues/bad/tasks/0123456789abcdef01234567/ack", `{"receipt":"r"}`); r.Status != 404 {
			t.Errorf("ack of an unknown task = %d", r.Status)
		}
		st := decodeInto[queueStats](t, s1.do("GET", "/queues/bad", ""))
		if st.Counters["enqueued"] != 0 || st.Ready != 0 {
			t.Fatalf("a rejected request changed the queue: %+v", st)
		}
	})

	t.Run("every acknowledged enqueue survives a Redis crash (AOF)", func(t *testing.T) {
		ids := map[string]bool{}
		for i := 0; i < 30; i++ {
			r := s1.do("POST", "/queues/crash/tasks", fmt.Sprintf(`{"payload":{"i":%d}}`, i))
			if r.Status != 201 {
				t.Fatalf("enqueue = %d %s", r.Status, r.Body)
			}
			ids[r.JSON(t)["id"].(string)] = true
		}
		rs.Stop()
		if r := s1.do("POST", "/queues/crash/tasks", `{"payload":1}`); r.Status != 503 {
			t.Fatalf("enqueue with Redis down = %d %s, want 503 (never a false 201)", r.Status, r.Body)
		}
		rs.Restart()
		seen := map[string]bool{}
		deadline := time.Now().Add(15 * time.Second)
		for len(seen) < len(ids) && time.Now().Before(deadline) {
			r := s2.do("POST", "/queues/crash/claim", `{"count":100,"wait":"1s"}`)
			if r.Status != 200 {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for _, tk := range decodeInto[claimed](t, r).Tasks {
				seen[tk.ID] = true
			}
		}
		for id := range ids {
			if !seen[id] {
				t.Errorf("task %s lost in the crash", id)
			}
		}
	})
}
