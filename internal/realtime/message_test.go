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
