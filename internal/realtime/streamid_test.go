package realtime

import "testing"

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
