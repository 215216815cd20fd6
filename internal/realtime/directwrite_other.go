//go:build !linux

package realtime

import (
	"net"
	"syscall"
)

// rawConn returns nil where direct writes are not implemented: every frame
// goes through the socket's writer goroutine.
func rawConn(net.Conn) syscall.RawConn { return nil }

const maxDirectFrames = 0

type directWriter struct{}

func newDirectWriter() *directWriter { return &directWriter{} }

func (*directWriter) add([]byte) {}

func (*directWriter) write(syscall.RawConn) (int, bool, error) { return 0, false, nil }
