//go:build linux

package realtime

import (
	"net"
	"syscall"
	"unsafe"

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

// directWriter is one write worker's means of writing without blocking: a
// writev(2) on the socket's non-blocking descriptor. Its iovecs and the
// callback handed to RawConn.Write are made once per worker, so a write
// allocates nothing (unix.Writev and a closure would, twice per write).
type directWriter struct {
	iov    []unix.Iovec
	n      int
	err    error
	called bool
	fn     func(fd uintptr) bool
}

func newDirectWriter() *directWriter {
	w := &directWriter{}
	w.fn = w.writev
	return w
}

// add appends b to the next write.
func (w *directWriter) add(b []byte) {
	if len(b) == 0 {
		return
	}
	v := unix.Iovec{Base: &b[0]}
	v.SetLen(len(b))
	w.iov = append(w.iov, v)
}

func (w *directWriter) writev(fd uintptr) bool {
	w.called = true
	for {
		r, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		switch e {
		case unix.EINTR:
			continue
		case 0:
			w.n, w.err = int(r), nil
		default:
			w.n, w.err = 0, e
		}
		return true // never wait for the socket here
	}
}

// write writes as much of what was added as the socket's send buffer takes
// now, without waiting, and forgets it. It returns how many bytes went out
// and ok; ok false means nothing could be tried (a write deadline has
// passed, the descriptor is closing) and the writer goroutine should take
// over. A full send buffer is n == 0 with a nil err.
func (w *directWriter) write(rc syscall.RawConn) (n int, ok bool, err error) {
	if len(w.iov) == 0 {
		return 0, true, nil
	}
	w.called = false
	werr := rc.Write(w.fn)
	clear(w.iov) // the scratch space must not keep frames alive
	w.iov = w.iov[:0]
	switch {
	case !w.called:
		return 0, false, werr
	case w.err == unix.EAGAIN:
		return 0, true, nil
	}
	return w.n, true, w.err
}
