package realtime

import (
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/redisx"
)

func TestValidRoom(t *testing.T) {
	tests := []struct {
		room string
		ok   bool
	}{
		{"room1", true},
		{"a", true},
		{"Team.chat_2-x", true},
		{strings.Repeat("r", 64), true},
		{strings.Repeat("r", 65), false},
		{"", false},
		{"-leading", false},
		{"has space", false},
		{"{tag}", false},
		{"glob*", false},
		{"slash/room", false},
		{"ünïcode", false},
	}
	for _, tc := range tests {
		if err := ValidRoom(tc.room); (err == nil) != tc.ok {
			t.Errorf("ValidRoom(%q) = %v, want ok=%v", tc.room, err, tc.ok)
		}
	}
}

func TestKeysShareTheRoomSlot(t *testing.T) {
	k := newKeys(&redisx.Client{Prefix: "redlane:"})
	for _, key := range []string{k.stream("r1"), k.last("r1"), k.idem("r1", "x"), k.presence("r1"), k.channel("r1")} {
		if !strings.Contains(key, "{r1}") || !strings.HasPrefix(key, "redlane:chat:") {
			t.Errorf("key %q lacks the room hash tag", key)
		}
	}
	if room, ok := k.roomOfChannel(k.channel("a.b-c")); !ok || room != "a.b-c" {
		t.Errorf("roomOfChannel = %q %v", room, ok)
	}
	if _, ok := k.roomOfChannel("redlane:chat:probe:x"); ok {
		t.Error("probe channel taken for a room")
	}
}

func TestStreamIDsOrder(t *testing.T) {
	tests := []struct {
		a, b string
		less bool
	}{
		{"1-0", "1-1", true},
		{"1-9", "2-0", true},
		{"10-0", "9-5", false},
		{"5-5", "5-5", false},
		{"5", "5-1", true},
	}
	for _, tc := range tests {
		a, ok1 := parseID(tc.a)
		b, ok2 := parseID(tc.b)
		if !ok1 || !ok2 || a.less(b) != tc.less {
			t.Errorf("%s < %s = %v (parsed %v %v), want %v", tc.a, tc.b, a.less(b), ok1, ok2, tc.less)
		}
	}
	for _, bad := range []string{"", "x", "1-", "-1", "1-2-3", "1.5-0", "18446744073709551616-0"} {
		if _, ok := parseID(bad); ok {
			t.Errorf("parseID(%q) accepted", bad)
		}
	}
	if id, _ := parseID("1700000000000-3"); id.String() != "1700000000000-3" {
		t.Errorf("String = %s", id)
	}
}

func TestContinuity(t *testing.T) {
	id := func(s string) streamID { v, _ := parseID(s); return v }
	env := func(id, prev string) *envelope {
		e, err := newEnvelope("r", id, prev, 0, `{"room":"r"}`)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name string
		last streamID
		e    *envelope
		want bool
	}{
		{"direct successor", id("5-0"), env("6-0", "5-0"), true},
		{"something between was lost", id("5-0"), env("8-0", "7-0"), false},
		{"made-up since between two messages", id("5-5"), env("6-0", "5-0"), true},
		{"from the beginning, first message", streamID{}, env("1-0", ""), true},
		{"from the beginning, history trimmed", streamID{}, env("9-0", "8-0"), false},
		{"chain restarted (history lost)", id("5-0"), env("9-0", ""), false},
	}
	for _, tc := range tests {
		if got := continuous(tc.last, tc.e); got != tc.want {
			t.Errorf("%s: continuous = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestEnvelopeWireFormat(t *testing.T) {
	body := `{"room":"r","sender":"ann","text":"hi \"there\"\n","timestamp":"2026-01-02T03:04:05.000Z"}`
	e, err := decodePayload("r", encodePayload("17-2", "17-1", 42, body))
	if err != nil {
		t.Fatal(err)
	}
	if e.prev != "17-1" || e.pubUS != 42 || e.idStr != "17-2" {
		t.Fatalf("envelope %+v", e)
	}
	m := e.message()
	if m.ID != "17-2" || m.Text != "hi \"there\"\n" || m.Sender != "ann" || m.Room != "r" {
		t.Fatalf("message %+v from %s", m, e.wire)
	}
	if !strings.HasPrefix(string(e.wire), `{"type":"message","id":"17-2","room":"r"`) {
		t.Fatalf("wire %s", e.wire)
	}
	for _, bad := range []string{"", "1-0\n\n5", "nope\n\n1\n{}", "1-0\n\n1\nnot json"} {
		if _, err := decodePayload("r", bad); err == nil {
			t.Errorf("decodePayload(%q) accepted", bad)
		}
	}
}
