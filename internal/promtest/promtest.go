// Package promtest runs a real Prometheus server for tests: Debian's
// /usr/bin/prometheus on loopback, on a free port, with temporary storage,
// scraping the given targets; and a client for its HTTP API
// (client_golang's api/prometheus/v1).
package promtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/testproc"
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
	// Exemplars turns on exemplar storage (--enable-feature=exemplar-storage):
	// Prometheus then scrapes OpenMetrics and keeps the exemplars, which
	// /api/v1/query_exemplars returns.
	Exemplars bool
}

// Server is one running Prometheus.
type Server struct {
	URL string
	API v1.API
	Dir string

	proc *testproc.Proc
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
	s := testproc.Retry(t, "prometheus", func() (*Server, error) { return launch(dir, conf, o.Exemplars) })
	t.Cleanup(s.Stop)
	return s
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

func launch(dir, conf string, exemplars bool) (*Server, error) {
	addrs, err := testproc.FreeAddrs(1)
	if err != nil {
		return nil, err
	}
	args := []string{
		"--config.file=" + conf,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addrs[0],
		"--log.level=warn",
	}
	if exemplars {
		args = append(args, "--enable-feature=exemplar-storage")
	}
	proc, err := testproc.Start("prometheus", args, filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + addrs[0], Dir: dir, proc: proc}
	client, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.API = v1.NewAPI(client)
	err = proc.WaitReady(2*time.Minute, func() bool {
		resp, err := http.Get(s.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	return s, nil
}

// Stop terminates Prometheus and waits for it to exit. Safe to call twice.
func (s *Server) Stop() { s.proc.Stop() }

// Log is what Prometheus has logged so far (warnings and errors).
func (s *Server) Log() string { return s.proc.Log() }

// Query evaluates expr at the current time.
func (s *Server) Query(ctx context.Context, expr string) (model.Value, error) {
	v, _, _, err := s.API.Query(ctx, expr, time.Now())
	return v, err
}
