package realtime

import (
	"bytes"
	"strings"
	"testing"
)

// The SSE stream re-frames the socket queue's WebSocket frames: a frame's
// payload is found behind headers of every length, typed by its "type", and
// a data field never holds a raw newline.
func TestSSEEventsFromFrames(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		payload := []byte(`{"type":"gap","room":"r","after":"` + strings.Repeat("1", n) + `"}`)
		if got := framePayload(encodeFrame(opText, payload)); !bytes.Equal(got, payload) {
			t.Fatalf("payload of %d bytes: got %d bytes back", len(payload), len(got))
		}
	}
	e, err := newEnvelope("r", "5-0", "4-0", 0, `{"room":"r","sender":"a","text":"hi","timestamp":"t"}`)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeEvent(&b, e.idStr, "message", e.wire)
	if want := "id: 5-0\nevent: message\ndata: " + string(e.wire) + "\n\n"; b.String() != want {
		t.Fatalf("message event %q, want %q", b.String(), want)
	}
	joined := mustJSON(joinedFrame{Type: "joined", Room: "r", LastID: "5-0"})
	if frameType(joined) != "joined" || jsonString(joined, "lastId") != "5-0" {
		t.Fatalf("joined frame read as %q with lastId %q", frameType(joined), jsonString(joined, "lastId"))
	}
	b.Reset()
	writeEvent(&b, "", "error", []byte("a\nb"))
	if b.String() != "event: error\ndata: a\ndata: b\n\n" {
		t.Fatalf("multi-line data %q", b.String())
	}
}
