//go:build darwin || linux || openbsd

package realtime

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawConn is the socket's file descriptor for the write workers' direct
// writes (writers.go), nil when the connection has none (TLS, a pipe).
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// maxDirectFrames is the most frames one direct write takes (IOV_MAX is
// 1024); a longer queue goes to the socket's writer goroutine.
const maxDirectFrames = 1024

// tryWrite writes as much of bufs as the socket's send buffer takes now,
// without waiting: one writev(2) on the non-blocking descriptor. It returns
// how many bytes were written and ok; ok false means nothing could be tried
// (a write deadline has passed, the descriptor is closing) and the writer
// goroutine should take over. A full send buffer is n == 0 with a nil err.
func tryWrite(rc syscall.RawConn, bufs [][]byte) (n int, ok bool, err error) {
	called := false
	werr := rc.Write(func(fd uintptr) bool {
		called = true
		for {
			n, err = unix.Writev(int(fd), bufs)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		return true // never wait for the socket here
	})
	if !called {
		return 0, false, werr
	}
	if errors.Is(err, unix.EAGAIN) {
		return 0, true, nil
	}
	return max(n, 0), true, err
}
