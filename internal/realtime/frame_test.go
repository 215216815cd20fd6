package realtime

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestRawFramesReadByAClient writes frames of every length class raw, as
// the writer does, and reads them with gorilla's client.
func TestRawFramesReadByAClient(t *testing.T) {
	payloads := []string{"", "hi", strings.Repeat("a", 125), strings.Repeat("b", 126), strings.Repeat("c", 65535), strings.Repeat("d", 70000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		var bufs net.Buffers
		for _, p := range payloads {
			bufs = append(bufs, encodeFrame(opText, []byte(p)))
		}
		bufs = append(bufs, pingFrame, closeFrame(4008, "slow consumer"))
		_, _ = bufs.WriteTo(ws.NetConn())
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pinged := false
	c.SetPingHandler(func(string) error { pinged = true; return nil })
	for i, want := range payloads {
		_, got, err := c.ReadMessage()
		if err != nil || !bytes.Equal(got, []byte(want)) {
			t.Fatalf("frame %d: %d bytes, err %v; want %d bytes", i, len(got), err, len(want))
		}
	}
	_, _, err = c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4008 || ce.Text != "slow consumer" || !pinged {
		t.Fatalf("after the messages: %v (pinged %v)", err, pinged)
	}
}

// TestEnvelopeFrame checks that a message built straight into its frame
// (newEnvelope) is the frame encodeFrame makes of its payload, across the
// header's length classes.
func TestEnvelopeFrame(t *testing.T) {
	// The payload is 40+n bytes: n=85 and 86 straddle 125, 65495 and 65496 straddle 65535.
	for _, n := range []int{0, 85, 86, 65495, 65496, 70000} {
		body := `{"text":"` + strings.Repeat("x", n) + `"}`
		e, err := newEnvelope("r", "17-2", "", 0, body)
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeFrame(opText, e.wire); !bytes.Equal(e.frame, want) {
			t.Fatalf("text of %d bytes: frame %.20q..., want %.20q...", n, e.frame, want)
		}
	}
}
