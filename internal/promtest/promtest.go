// Package promtest runs a real Prometheus server for tests: Debian's
// /usr/bin/prometheus on loopback, on a free port, with temporary storage,
// scraping the given targets; and a client for its HTTP API
// (client_golang's api/prometheus/v1).
package promtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/redlane/redlane/internal/redistest"
)

// Options say what the server scrapes.
type Options struct {
	// Job is the scrape job name (the job label).
	Job string
	// Targets are host:port addresses scraped at /metrics.
	Targets []string
	// Labels are added to every target, as Kubernetes service discovery
	// adds namespace, pod and service.
	Labels map[string]string
	// RuleFiles are loaded and evaluated every ScrapeInterval.
	RuleFiles []string
	// ScrapeInterval is also the rule evaluation interval; default 1s.
	ScrapeInterval time.Duration
}

// Server is one running Prometheus.
type Server struct {
	URL string
	API v1.API
	Dir string

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Start runs Prometheus until the test ends. It skips the test when the
// binary is missing, and fails instead under CI=true.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	redistest.Require(t, "prometheus")
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = time.Second
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	b, err := yaml.Marshal(config(o))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := launch(t, dir, conf)
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting prometheus: %v", lastErr)
	return nil
}

func config(o Options) map[string]any {
	iv := o.ScrapeInterval.String()
	target := map[string]any{"targets": o.Targets}
	if len(o.Labels) > 0 {
		target["labels"] = o.Labels
	}
	return map[string]any{
		"global": map[string]any{
			"scrape_interval":     iv,
			"scrape_timeout":      iv,
			"evaluation_interval": iv,
		},
		"rule_files": o.RuleFiles,
		"scrape_configs": []any{map[string]any{
			"job_name":       o.Job,
			"static_configs": []any{target},
		}},
	}
}

func launch(t testing.TB, dir, conf string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("prometheus",
		"--config.file="+conf,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + addr, Dir: dir, t: t, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	client, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.API = v1.NewAPI(client)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			if len(log) > 2000 {
				log = log[len(log)-2000:]
			}
			return nil, fmt.Errorf("prometheus exited: %s", log)
		default:
		}
		if resp, err := http.Get(s.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return nil, errors.New("prometheus was not ready within 2m")
}

// Stop terminates Prometheus and waits for it to exit. Safe to call twice.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Log is what Prometheus has logged so far (warnings and errors).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "prometheus.log"))
	return string(b)
}

// Query evaluates expr at the current time.
func (s *Server) Query(ctx context.Context, expr string) (model.Value, error) {
	v, _, _, err := s.API.Query(ctx, expr, time.Now())
	return v, err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
