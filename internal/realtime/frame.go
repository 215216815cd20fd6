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
	b := appendFrameHeader(make([]byte, 0, frameHeaderLen(len(payload))+len(payload)), op, len(payload))
	return append(b, payload...)
}

// frameHeaderLen is the header size of a frame with n payload bytes.
func frameHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// appendFrameHeader appends the header of a final, unmasked frame with n
// payload bytes.
func appendFrameHeader(b []byte, op byte, n int) []byte {
	switch {
	case n <= 125:
		return append(b, 0x80|op, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, 0x80|op, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0x80|op, 127), uint64(n))
}

var pingFrame = encodeFrame(opPing, nil)

// framePayload is the payload of a frame built by encodeFrame: how an SSE
// stream (sse.go) reads the frames a socket's queue holds.
func framePayload(frame []byte) []byte {
	if len(frame) < 2 {
		return nil
	}
	switch frame[1] {
	case 126:
		return frame[min(4, len(frame)):]
	case 127:
		return frame[min(10, len(frame)):]
	}
	return frame[2:]
}

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
