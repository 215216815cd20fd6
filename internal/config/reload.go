package config

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Status describes the configuration in effect and the last reload attempt.
type Status struct {
	Generation      int64     `json:"generation"`
	Source          string    `json:"source"`
	LoadedAt        time.Time `json:"loadedAt"`
	LastReloadAt    time.Time `json:"lastReloadAt,omitzero"`
	LastReloadOK    bool      `json:"lastReloadSuccessful"`
	LastReloadError string    `json:"lastReloadError,omitempty"`
	PendingRestart  []string  `json:"pendingRestart,omitempty"`
}

// Store holds the effective configuration. Readers call Current on every use
// (one atomic load), which is how hot settings apply without a restart.
type Store struct {
	cur       atomic.Pointer[Config]
	mu        sync.Mutex
	status    Status
	listeners []func(*Config)
}

// NewStore starts at generation 1 with c in effect.
func NewStore(c *Config, source string) *Store {
	s := &Store{status: Status{Generation: 1, Source: source, LoadedAt: time.Now(), LastReloadOK: true}}
	s.cur.Store(c)
	return s
}

// Current returns the configuration in effect. Callers must not modify it.
func (s *Store) Current() *Config { return s.cur.Load() }

// Status returns a copy of the reload status.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.PendingRestart = append([]string(nil), st.PendingRestart...)
	return st
}

// OnChange registers fn to run (synchronously) after each successful reload.
func (s *Store) OnChange(fn func(*Config)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// Apply makes the hot parts of next effective and reports the fields that
// changed but need a restart; those keep their current values.
func (s *Store) Apply(next *Config) []string {
	s.mu.Lock()
	eff, pending := Merge(s.cur.Load(), next)
	s.cur.Store(eff)
	s.status.Generation++
	s.status.LoadedAt = time.Now()
	s.status.LastReloadAt = s.status.LoadedAt
	s.status.LastReloadOK = true
	s.status.LastReloadError = ""
	s.status.PendingRestart = pending
	ls := append([]func(*Config){}, s.listeners...)
	s.mu.Unlock()
	for _, fn := range ls {
		fn(eff)
	}
	return pending
}

// Fail records a rejected reload; the configuration in effect stays.
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.LastReloadAt = time.Now()
	s.status.LastReloadOK = false
	s.status.LastReloadError = err.Error()
}

// Merge returns a copy of cur with every reload:"hot" subtree taken from
// next, and the paths of other fields whose values differ.
func Merge(cur, next *Config) (*Config, []string) {
	eff := Clone(cur)
	var pending []string
	mergeValue(reflect.ValueOf(eff).Elem(), reflect.ValueOf(next).Elem(), "", &pending)
	return eff, pending
}

func mergeValue(dst, src reflect.Value, path string, pending *[]string) {
	if dst.Kind() != reflect.Struct || dst.Type() == durationType {
		if !equalValues(dst, src) {
			*pending = append(*pending, path)
		}
		return
	}
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		p := join(path, strings.Split(f.Tag.Get("json"), ",")[0])
		if f.Tag.Get("reload") == "hot" {
			dst.Field(i).Set(src.Field(i))
			continue
		}
		mergeValue(dst.Field(i), src.Field(i), p, pending)
	}
}

// Watcher reloads the document when the files it came from change. It polls
// a checksum, which survives the atomic "..data" symlink swap Kubernetes uses
// for ConfigMap volumes, editors that rename over files, and network mounts.
// A change is applied once the checksum has been the same for two polls in a
// row, so a file written in place is not read half-written.
type Watcher struct {
	Paths    []string // the config file and the .env file, if any
	Interval time.Duration
	Load     func() (*Config, error)
	Store    *Store
	Log      *slog.Logger

	last   [32]byte
	primed bool
}

// Prime records the files' current checksum. Call it before loading the
// configuration the Store starts with, so a change made between that load
// and Run is not missed.
func (w *Watcher) Prime() {
	w.last, w.primed = w.checksum(), true
}

// Run polls until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.primed {
		w.Prime()
	}
	last := w.last
	var candidate [32]byte
	pending := false
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		sum := w.checksum()
		switch {
		case sum == last:
			pending = false
		case !pending || sum != candidate:
			// Changed: wait one more interval for the content to settle, so a
			// file still being written in place is never loaded half-done.
			pending, candidate = true, sum
		default:
			pending, last = false, sum
			w.Reload()
		}
	}
}

// Reload loads the files now and applies them, or records why not.
func (w *Watcher) Reload() {
	next, err := w.Load()
	if err != nil {
		w.Store.Fail(err)
		w.Log.Error("config reload rejected; keeping the previous config", "error", err.Error(), "generation", w.Store.Status().Generation)
		return
	}
	pending := w.Store.Apply(next)
	args := []any{"generation", w.Store.Status().Generation}
	if len(pending) > 0 {
		w.Log.Warn("config reloaded; some changes need a restart and are not in effect", append(args, "pending_restart", pending)...)
		return
	}
	w.Log.Info("config reloaded", args...)
}

func (w *Watcher) checksum() [32]byte {
	h := sha256.New()
	for _, p := range w.Paths {
		b, err := ReadFile(p) // bounded as Load is: the watcher reads the same files
		switch {
		case errors.Is(err, fs.ErrNotExist):
			h.Write([]byte("\x00missing\x00"))
		case err != nil:
			h.Write([]byte("\x00error:" + err.Error()))
		default:
			h.Write(b)
		}
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// equalValues is DeepEqual except that nil and empty slices are the same
// setting ("trustedProxies: []" and no trustedProxies at all).
func equalValues(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
