package chaos

import "testing"

func TestCheckChat(t *testing.T) {
	truth := chatTruth{
		acked:   map[string][]string{"r": {"10-0", "20-0", "30-0", "40-0"}},
		history: map[string][]string{"r": {"10-0", "20-0", "40-0", "50-0"}}, // 30 lost, 50 unacknowledged
	}
	cases := []struct {
		name                                                 string
		rec                                                  chatRecord
		silent, covered, skipped, empty, dups, disorder, off int
	}{
		{"everything", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "30-0", "40-0", "50-0"}}, 0, 0, 0, 0, 0, 0, 0},
		{"only after its base", chatRecord{Room: "r", Base: "20-0", Online: true, IDs: []string{"30-0", "40-0", "50-0"}}, 0, 0, 0, 0, 0, 0, 0},
		{"lost without a gap", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "40-0", "50-0"}}, 1, 0, 0, 0, 0, 0, 0},
		{"lost inside a gap", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "40-0", "50-0"},
			Gaps: []gapRecord{{After: "20-0", Next: "40-0", Pos: 2}}}, 0, 1, 0, 0, 0, 0, 0},
		{"gap without next ends at the next message", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "40-0"},
			Gaps: []gapRecord{{After: "10-0", Pos: 1}}}, 1, 1, 1, 0, 0, 0, 0}, // 30 lost and named, 20 in history but skipped, 50 silently lost
		{"gap naming nothing", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "30-0", "40-0", "50-0"},
			Gaps: []gapRecord{{After: "40-0", Pos: 4}}}, 0, 0, 0, 1, 0, 0, 0},
		{"duplicate and disorder", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "20-0", "40-0", "30-0", "50-0"}}, 0, 0, 0, 0, 1, 1, 0},
		{"offline after its last session owes nothing later", chatRecord{Room: "r", Base: "0-0", IDs: []string{"10-0", "20-0"},
			Joins: []joinEvent{{At: 1}}, Closes: []closeRec{{At: 25, Code: 1001}}}, 0, 0, 0, 0, 0, 0, 1},
		{"never joined", chatRecord{Room: "r"}, 0, 0, 0, 0, 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := checkChat([]chatRecord{tc.rec}, truth)
			got := [...]int{v.silentLost, v.covered, v.skipped, v.emptyGaps, v.dups, v.disorder, v.offline}
			want := [...]int{tc.silent, tc.covered, tc.skipped, tc.empty, tc.dups, tc.disorder, tc.off}
			if got != want {
				t.Errorf("silent, covered, skipped, empty gaps, dups, disorder, offline = %v, want %v", got, want)
			}
		})
	}
	if n, first := truth.lostAcked(); n != 1 || first != "r/30-0" {
		t.Errorf("lostAcked = %d %q, want 1 r/30-0", n, first)
	}
}
