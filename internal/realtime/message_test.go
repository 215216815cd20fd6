package realtime

import (
	"strconv"
	"strings"
	"testing"
)

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

// encodePayload is the pub/sub payload the publish script builds in Lua:
// its Go twin, so the decoder is tested against the same format.
func encodePayload(id, prev string, pubUS int64, rawBody string) string {
	return id + "\n" + prev + "\n" + strconv.FormatInt(pubUS, 10) + "\n" + rawBody
}

// TestPayloadTimeLine: the time line of a payload carries the failover mark
// and the publisher's traceparent in any order after the time; a payload
// of an older version (time alone) still parses, and anything that is not
// exactly a traceparent is ignored, never put in a frame.
func TestPayloadTimeLine(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	body := `{"room":"r","sender":"ann","text":"hi","timestamp":"2026-01-02T03:04:05.000Z"}`
	for _, tc := range []struct {
		line     string
		failover bool
		tp       string
	}{
		{"42", false, ""},
		{"42 f", true, ""},
		{"42 " + tp, false, tp},
		{"42 f " + tp, true, tp},
		{"42 " + tp + " f", true, tp},
		{"42 00-zz-00f067aa0ba902b7-01", false, ""},
		{"42 " + tp + "00", false, ""},
		{"42 00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, ""}, // invalid (zero) trace id
		{"42 x y", false, ""},
	} {
		e, err := decodePayload("r", "17-2\n17-1\n"+tc.line+"\n"+body)
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if e.pubUS != 42 || e.failover != tc.failover || e.tp != tc.tp {
			t.Errorf("%q: pubUS %d failover %v tp %q, want 42 %v %q", tc.line, e.pubUS, e.failover, e.tp, tc.failover, tc.tp)
		}
		if strings.Contains(string(e.frame), "00-") {
			t.Errorf("%q: the frame shows the trace context: %s", tc.line, e.frame)
		}
	}
}
