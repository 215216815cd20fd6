package chaos

import (
	"testing"
	"time"
)

func TestRecoveredAt(t *testing.T) {
	h := time.Unix(1000, 0)
	at := func(ms int) time.Time { return h.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name     string
		fails    []failure
		want     time.Duration
		kind     string
		isolated int
	}{
		{"none", nil, 0, "none", 0},
		{"only during the fault", []failure{{at(-500), "session"}}, 0, "none", 0},
		{"a streak", []failure{{at(-100), "session"}, {at(300), "session"}, {at(1200), "rlclosed"}, {at(2100), "session"}}, 2100 * time.Millisecond, "session", 0},
		{"a streak, then one isolated", []failure{{at(400), "session"}, {at(4900), "rlclosed"}}, 400 * time.Millisecond, "session", 1},
		{"a late first failure is isolated", []failure{{at(1500), "enqueue"}}, 0, "none", 1},
	} {
		got, kind, isolated := recoveredAt(tc.fails, h)
		if got.Sub(h) != tc.want || kind != tc.kind || isolated != tc.isolated {
			t.Errorf("%s: %s %s %d, want %s %s %d", tc.name, got.Sub(h), kind, isolated, tc.want, tc.kind, tc.isolated)
		}
	}
}
