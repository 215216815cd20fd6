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
		{strings.Repeat("r", 128), true},
		{strings.Repeat("r", 129), false},
		{"dm:alice,bob", true},
		{"team:7:general", true},
		{":leading", false},
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
