package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// MaxFileBytes caps the config document and the .env file (1 MiB: a real
// document is a few KiB). Without a cap, `config check -f /dev/zero` read
// until it was killed and an 86 MB YAML list took 769 MB to parse.
const MaxFileBytes = 1 << 20

// ReadTimeout bounds reading one config or .env file, so a file on a hung
// network mount cannot stall serve's start or the reload watcher for ever.
const ReadTimeout = 5 * time.Second

// Errors ReadFile returns (wrapped, with the path and the reason).
var (
	ErrNotRegular  = errors.New("not a regular file")
	ErrTooLarge    = errors.New("file too large")
	ErrReadTimeout = errors.New("file not read in time")
)

// ReadFile reads a config or .env file the one way serve, the reload watcher
// and `redlane config check` all do: a regular file only (symlinks are
// followed, as in a ConfigMap volume; a device, FIFO, socket or directory is
// refused without reading from it), at most MaxFileBytes, within
// ReadTimeout. A missing file's error wraps fs.ErrNotExist. /dev/null is
// read as the empty file it stands for (--env-file /dev/null: no .env).
func ReadFile(path string) ([]byte, error) {
	if path == os.DevNull {
		return nil, nil
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readRegular(path)
		done <- result{b, err}
	}()
	t := time.NewTimer(ReadTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.b, r.err
	case <-t.C:
		// The reading goroutine ends when the read does; nothing waits for it.
		return nil, fmt.Errorf("%s: %w within %s", path, ErrReadTimeout, ReadTimeout)
	}
}

func readRegular(path string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO with no writer would otherwise block
	// until one appears. It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s); give the path of a YAML file", path, ErrNotRegular, kindOf(fi.Mode()))
	}
	if fi.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d (1 MiB)", path, ErrTooLarge, fi.Size(), MaxFileBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes { // it grew while being read
		return nil, fmt.Errorf("%s: %w: more than %d bytes (1 MiB)", path, ErrTooLarge, MaxFileBytes)
	}
	return b, nil
}

// kindOf names what a non-regular file is, for the error message.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}
