package k8s

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestToolsetMarkerAgrees: the completion marker tools.sh writes is the one
// kubelet.sh and Tools wait for. When tools.sh's marker moved on
// (.complete-2) and kubelet.sh still checked the old one, a warm machine
// (holding both) passed and .ci/run on a fresh one failed at kubelet.sh.
func TestToolsetMarkerAgrees(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(RepoRoot(), "test", "k8s", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	m := regexp.MustCompile(`(?m)^touch "\$DIR/(\.complete[-\w]*)"$`).FindStringSubmatch(read("tools.sh"))
	if m == nil {
		t.Fatal(`tools.sh does not end with touch "$DIR/.complete…"`)
	}
	marker := m[1]
	if !strings.Contains(read("kubelet.sh"), `-f "$TOOLS/`+marker+`"`) {
		t.Errorf("kubelet.sh does not check tools.sh's marker %s", marker)
	}
	if !strings.Contains(read("tools.go"), `"`+marker+`"`) {
		t.Errorf("tools.go does not check tools.sh's marker %s", marker)
	}
}
