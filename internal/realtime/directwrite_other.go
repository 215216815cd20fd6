//go:build !(darwin || linux || openbsd)

package realtime

import (
	"net"
	"syscall"
)

// rawConn returns nil where direct writes are not implemented: every frame
// goes through the socket's writer goroutine.
func rawConn(net.Conn) syscall.RawConn { return nil }

const maxDirectFrames = 0

func tryWrite(syscall.RawConn, [][]byte) (int, bool, error) { return 0, false, nil }
