package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/redlane/redlane/internal/config"
)

// configMapDir lays files out the way the kubelet does for a ConfigMap volume:
// dir/config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>/, and an
// update swaps the ..data symlink atomically.
type configMapDir struct {
	t   *testing.T
	dir string
	n   int
}

func (c *configMapDir) write(content string) {
	c.t.Helper()
	c.n++
	ts := filepath.Join(c.dir, "..2026_"+string(rune('a'+c.n)))
	if err := os.MkdirAll(ts, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "config.yaml"), []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	link := filepath.Join(c.dir, "config.yaml")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink("..data/config.yaml", link); err != nil {
			c.t.Fatal(err)
		}
	}
}

func TestWatcherReloadsConfigMapSwaps(t *testing.T) {
	cm := &configMapDir{t: t, dir: t.TempDir()}
	cm.write("spec:\n  log: {level: info}\n  cache: {defaultTTL: 5m}\n")
	path := filepath.Join(cm.dir, "config.yaml")
	load := func() (*config.Config, error) { return config.Load(path, func(string) string { return "" }) }
	w := &config.Watcher{Paths: []string{path}, Interval: 20 * time.Millisecond, Load: load}
	w.Prime()
	first, err := load()
	if err != nil {
		t.Fatal(err)
	}
	store := config.NewStore(first, path)
	logs := &syncWriter{w: &bytes.Buffer{}}
	changed := make(chan *config.Config, 10)
	store.OnChange(func(c *config.Config) { changed <- c })
	w.Store, w.Log = store, slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// A good change applies.
	cm.write("spec:\n  log: {level: debug}\n  cache: {defaultTTL: 1m}\n")
	select {
	case c := <-changed:
		if c.Spec.Log.Level != "debug" || c.Spec.Cache.DefaultTTL.Duration != time.Minute {
			t.Fatalf("reloaded config = %+v", c.Spec)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload after a ConfigMap-style swap")
	}
	if st := store.Status(); st.Generation != 2 || !st.LastReloadOK {
		t.Fatalf("status after good reload = %+v", st)
	}

	// A bad change keeps the old config and says why.
	cm.write("spec:\n  log: {level: loud}\n")
	deadline := time.Now().Add(5 * time.Second)
	for store.Status().LastReloadOK {
		if time.Now().After(deadline) {
			t.Fatal("bad file was not noticed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := store.Status()
	if !strings.Contains(st.LastReloadError, "spec.log.level") || st.Generation != 2 {
		t.Fatalf("status after bad reload = %+v", st)
	}
	if store.Current().Spec.Log.Level != "debug" {
		t.Fatal("bad reload replaced the config in effect")
	}

	// A restart-only change is reported, not applied.
	cm.write("spec:\n  log: {level: warn}\n  cache: {defaultTTL: 1m}\n  server: {address: ':9001'}\n")
	select {
	case c := <-changed:
		if c.Spec.Log.Level != "warn" || c.Spec.Server.Address != ":8000" {
			t.Fatalf("after restart-only change: level=%s address=%s", c.Spec.Log.Level, c.Spec.Server.Address)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload")
	}
	if p := store.Status().PendingRestart; len(p) != 1 || p[0] != "spec.server.address" {
		t.Fatalf("pending restart = %v", p)
	}
	if !strings.Contains(logs.String(), "config reload rejected") {
		t.Errorf("rejected reload was not logged: %s", logs.String())
	}
}

func TestSchemaAcceptsDefaultsAndRejectsTypos(t *testing.T) {
	raw, err := config.Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	validate := func(yml string) error {
		js, err := yaml.YAMLToJSON([]byte(yml))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		_ = json.Unmarshal(js, &v)
		return sch.Validate(v)
	}
	if err := validate(string(config.DefaultDocument())); err != nil {
		t.Errorf("schema rejects the default document: %v", err)
	}
	for _, bad := range []string{
		"spec:\n  redis:\n    URL: x\n",
		"spec:\n  cache:\n    defaultTTL: 300\n",
		"spec:\n  log:\n    level: loud\n",
		"kind: Other\n",
	} {
		if err := validate(bad); err == nil {
			t.Errorf("schema accepts %q", bad)
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
