package config_test

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
)

func TestReadFileAcceptsRegularFilesUpToTheCap(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	atCap := filepath.Join(dir, "at-cap.yaml")
	over := filepath.Join(dir, "over.yaml")
	for p, n := range map[string]int{atCap: config.MaxFileBytes, over: config.MaxFileBytes + 1} {
		if err := os.WriteFile(p, []byte(strings.Repeat("#", n)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink("at-cap.yaml", link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error // nil: read
	}{
		{"at the cap", atCap, nil},
		{"symlink to a regular file", link, nil},
		{"/dev/null reads as empty", os.DevNull, nil},
		{"one byte over", over, config.ErrTooLarge},
		{"/dev/zero", "/dev/zero", config.ErrNotRegular},
		{"FIFO without a writer", fifo, config.ErrNotRegular},
		{"directory", dir, config.ErrNotRegular},
		{"missing", filepath.Join(dir, "nope"), fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := config.ReadFile(tc.path)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("ReadFile(%s) = %v, want %v", tc.path, err, tc.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}
}

// The reload watcher reads with the same bounds: a config file replaced by
// a FIFO is a rejected reload, at once, and the config in effect stays.
func TestWatcherRejectsAFIFOAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	c, err := config.Load(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	store := config.NewStore(c, path)
	w := &config.Watcher{Paths: []string{path}, Interval: time.Hour, Store: store,
		Load: func() (*config.Config, error) { return config.Load(path, getenv) },
		Log:  slog.New(slog.NewTextHandler(io.Discard, nil))}
	w.Prime()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w.Prime() // the checksum reads the files too
	w.Reload()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("checksum and reload of a FIFO took %s", d)
	}
	st := store.Status()
	if st.LastReloadOK || !strings.Contains(st.LastReloadError, "not a regular file (a FIFO)") || st.Generation != 1 {
		t.Fatalf("status after a FIFO reload: %+v", st)
	}
}
