package realtime

import (
	"strconv"
	"testing"
)

// FuzzParseStreamID: any text a client sends as a message id (?since=,
// ?before=, a join frame's since) is either refused or read as the id it
// names: formatting it and reading it again gives the same id, and it is
// what strconv reads in each part.
func FuzzParseStreamID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseID(s)
		if !ok {
			return
		}
		again, ok := parseID(id.String())
		if !ok || again != id {
			t.Fatalf("parseID(%q) = %v, but its String %q reads as %v, %v", s, id, id.String(), again, ok)
		}
		if _, err := strconv.ParseUint(strconv.FormatUint(id.ms, 10), 10, 64); err != nil {
			t.Fatalf("parseID(%q) = %v: %v", s, id, err)
		}
	})
}
