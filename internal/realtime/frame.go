package realtime

import "encoding/binary"

// WebSocket opcodes of the frames this package writes itself (RFC 6455 5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// encodeFrame builds a whole server-to-client frame (final, unmasked).
// Every outgoing frame goes through the socket's writer as raw bytes, so a
// writer with several frames queued sends them in one writev system call,
// and a room message is encoded once for all its members.
func encodeFrame(op byte, payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n <= 125:
		b = make([]byte, 2, 2+n)
		b[1] = byte(n)
	case n <= 0xFFFF:
		b = make([]byte, 4, 4+n)
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = make([]byte, 10, 10+n)
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[0] = 0x80 | op
	return append(b, payload...)
}

var pingFrame = encodeFrame(opPing, nil)

// closeFrame is a close frame with code and reason (reason cut to fit a
// control frame's 125 bytes).
func closeFrame(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	return encodeFrame(opClose, append(p, reason...))
}
