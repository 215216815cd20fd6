package chaos

import "testing"

func TestCheckChat(t *testing.T) {
	truth := chatTruth{
		acked:   map[string][]string{"r": {"10-0", "20-0", "30-0", "40-0"}},
		history: map[string][]string{"r": {"10-0", "20-0", "40-0", "50-0"}}, // 30 lost, 50 unacknowledged
	}
	cases := []struct {
		name                                 string
		rec                                  chatRecord
		silent, covered, dups, disorder, off int
	}{
		{"everything", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "30-0", "40-0", "50-0"}}, 0, 0, 0, 0, 0},
		{"only after its base", chatRecord{Room: "r", Base: "20-0", Online: true, IDs: []string{"30-0", "40-0", "50-0"}}, 0, 0, 0, 0, 0},
		{"lost without a gap", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "40-0", "50-0"}}, 1, 0, 0, 0, 0},
		{"lost inside a gap", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "40-0", "50-0"},
			Gaps: []gapRecord{{After: "20-0", Next: "40-0", Pos: 2}}}, 0, 1, 0, 0, 0},
		{"gap without next ends at the next message", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "40-0"},
			Gaps: []gapRecord{{After: "10-0", Pos: 1}}}, 1, 2, 0, 0, 0}, // 20 and 30 covered, 50 silently lost
		{"duplicate and disorder", chatRecord{Room: "r", Base: "0-0", Online: true, IDs: []string{"10-0", "20-0", "20-0", "40-0", "30-0", "50-0"}}, 0, 0, 1, 1, 0},
		{"offline after its last session owes nothing later", chatRecord{Room: "r", Base: "0-0", IDs: []string{"10-0", "20-0"},
			Joins: []joinEvent{{At: 1}}, Closes: []closeRec{{At: 25, Code: 1001}}}, 0, 0, 0, 0, 1},
		{"never joined", chatRecord{Room: "r"}, 0, 0, 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := checkChat([]chatRecord{tc.rec}, truth)
			if v.silentLost != tc.silent || v.covered != tc.covered || v.dups != tc.dups || v.disorder != tc.disorder || v.offline != tc.off {
				t.Errorf("got silent %d covered %d dups %d disorder %d offline %d, want %d %d %d %d %d",
					v.silentLost, v.covered, v.dups, v.disorder, v.offline, tc.silent, tc.covered, tc.dups, tc.disorder, tc.off)
			}
		})
	}
	if n, first := truth.lostAcked(); n != 1 || first != "r/30-0" {
		t.Errorf("lostAcked = %d %q, want 1 r/30-0", n, first)
	}
}
