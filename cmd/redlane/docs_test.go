package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The documentation test: every command in README.md and docs/*.md is either
// run here against a served instance, or listed in notRun with the reason it
// cannot be and the tests that cover it instead. A command that is neither
// fails the test, so the docs cannot drift from the code.
//
// Each fenced bash block runs as one script (set -euo pipefail, so a variable
// one line sets serves the next) in a directory of its own, with
// localhost:8000 pointing at a recording proxy in front of an embedded-mode
// server. A block fails when it exits non-zero, when a request is answered
// with a 5xx, or with a 4xx that neither its command nor the comment lines
// right below it mention.
//
// The files: docs_test.go (what runs and what is listed), docs_read_test.go
// (reading the markdown and the shell), docs_pages_test.go (links between the
// pages, config examples), docs_metrics_test.go (docs/metrics.md against
// /metrics).

// notRun lists the documented commands TestDocs does not run. Each pattern
// must match at least one command of the docs and each named test must exist,
// so the list cannot go stale; a command matching no entry and not runnable
// here fails the test.
var notRun = []struct {
	pattern string   // regexp over the command: comments stripped, `go run ./cmd/redlane` written as `redlane`
	why     string   // why this test cannot run it
	tests   []string // tests that run the same thing instead (each must exist)
	broken  bool     // known not to work yet: it is run, and the test fails once it works
}{
	{
		pattern: `^redlane serve( --config \S+)?$`,
		why:     "serve runs until it is stopped; this test serves the same embedded mode itself",
		tests:   []string{"TestDocs", "TestEmbeddedDevelopmentMode", "TestConfigReloadThroughServer"},
	},
	{
		pattern: `^(REDIS_[A-Z_]+=\S+ )+redlane serve\b`,
		why:     "needs a Redis at the address the example names",
		tests:   []string{"TestServeAgainstRealRedis", "TestServeRedisCluster", "TestOpenEveryMode"},
	},
	{
		pattern: `^DATABASE_URL=\S+ redlane serve$`,
		why:     "needs the PostgreSQL server the example names",
		tests:   []string{"TestDBCommandsOnPostgres", "TestReadinessFollowsDatabase"},
	},
	{
		pattern: `^redlane db (migrate|seed)\b`,
		why:     "needs a database that outlives the command (DATABASE_URL or spec.database.sqlitePath)",
		tests:   []string{"TestDBCommandsOnPostgres", "TestDBCommandsOnSQLiteFile"},
	},
	{
		pattern: `(^git clone --branch v[0-9.]+ https://github.com/jaegertracing/jaeger-ui |^cd /tmp/jaeger-ui && npm install|^\(cd packages/jaeger-ui && npm run build\)$|^cd - && REDLANE_JAEGER_UI=|^cp build/screenshots/tracing-cross-pod-jaeger-ui.png )`,
		why:     "builds Jaeger's UI from its source on GitHub, which this machine cannot reach; CI draws the trace from Jaeger's API instead",
		tests:   []string{"TestBrowserCrossPodTrace"},
	},
	{
		pattern: `(^for p in 7000 .*redis-server|^redis-cli --cluster create)`,
		why:     "starts redis-server daemons on fixed ports and leaves them running",
		tests:   []string{"TestServeRedisCluster", "TestOpenEveryMode"},
	},
	{
		pattern: `^curl -N `,
		why:     "an event stream: curl -N reads it until interrupted",
		tests:   []string{"TestChatSSE", "TestBrowserChatSSEFallback"},
	},
	{
		pattern: `^wscat `,
		why:     "an interactive WebSocket client (npm wscat)",
		tests:   []string{"TestChatSeedUsage", "TestChatWithSessions"},
	},
	{
		pattern: `^make (test|lint)$`,
		why:     "the whole suite, this test included, and its static checks",
	},
	{
		pattern: `^go test `,
		why:     "runs tests of the suite, which make test runs",
	},
	{
		pattern: `^make fuzz\b`,
		why:     "fuzzes every target for FUZZTIME each (minutes); make test runs their seed corpora",
		tests:   []string{"TestFuzzTargetsListed"},
	},
	{
		pattern: `^make test-k8s$`,
		why:     "the packaging tests, which make test runs",
		tests:   []string{"TestHelmLintStrict"},
	},
	{
		pattern: `^make image$`,
		why:     "builds the images with podman (minutes cold); .ci/run runs it before make test",
		tests:   []string{"TestChartPodsRunInPodman"},
	},
	{
		pattern: `^bash test/k8s/kubelet\.sh$`,
		why:     "builds the real node's kubelet, kube-proxy and CoreDNS once per machine (about 10 minutes cold); .ci/run runs it",
		tests:   []string{"TestChartOnRealNode"},
	},
	{
		pattern: `^make test-image$`,
		why:     "make image, then the image tests, which make test runs",
		tests:   []string{"TestChartPodsRunInPodman"},
	},
	{
		pattern: `^make k8s-tools$`,
		why:     "builds the Kubernetes toolset once per machine (about half an hour cold)",
		tests:   []string{"TestHelmLintStrict", "TestTiltfile"},
	},
	{
		pattern: `^export PATH="\$\(test/k8s/tools\.sh --dir\)/bin:\$PATH"$`,
		why:     "changes the reader's shell; every test/k8s test resolves the toolset with tools.sh --dir",
		tests:   []string{"TestHelmLintStrict"},
	},
	{
		pattern: `^(make chaos(-short)?\b|go run \./tools/chaos )`,
		why:     "the fault suite: minutes of real processes under injected faults; make test runs its short profile",
		tests:   []string{"TestShortProfile"},
	},
	{
		pattern: `^make (dashboards|sync-dashboards)$`,
		why:     "regenerates checked-in files; the tests fail when they are stale",
		tests:   []string{"TestDashboardsUpToDate", "TestDashboardsCopyIdentical"},
	},
	{
		pattern: `^(\w+=("[^"]*"|\S+) )*(make bench|tools/bench/\w+\.sh)\b`,
		why:     "a benchmark or load test: minutes of wrk or WebSocket load; its figures are measurements, not assertions",
	},
	{
		pattern: `^promtool (check|test) rules `,
		why:     "runs promtool on the rule files, as the rule tests do",
		tests:   []string{"TestRulesPromtool"},
	},
	{
		pattern: `^cp dashboards/alerts/redlane\.rules\.yaml /etc/prometheus/rules/$`,
		why:     "installs into the reader's Prometheus; the dashboards test loads the same file into a real one",
		tests:   []string{"TestDashboardsAgainstPrometheus"},
	},
	{
		pattern: `^for f in dashboards/.* http://grafana:3000/`,
		why:     "needs a Grafana and its API token",
		tests:   []string{"TestJSONReadsBackStrictly"},
	},
	{
		pattern: `^docker build `,
		why:     "needs a container runtime",
		tests:   []string{"TestDockerfileStructure", "TestBinaryRunsUnprivilegedReadOnly"},
	},
	{
		pattern: `^helm (install|test) `,
		why:     "needs a Kubernetes cluster",
		tests:   []string{"TestHelmLifecycle", "TestServerDryRunStrict"},
	},
	{
		pattern: `^kubectl apply -k k8s/overlays/dev$`,
		why:     "needs a Kubernetes cluster",
		tests:   []string{"TestKustomizeOnServer"},
	},
	{
		pattern: `^(DOCKER_HOST=\S+ DOCKER_BUILDKIT=0 )?tilt (up|ci)\b`,
		why:     "needs a Kubernetes cluster and a container builder",
		tests:   []string{"TestTiltfile", "TestTiltOnRealNode"},
	},
	{
		pattern: `^podman system service\b`,
		why:     "a long-running API service for Tilt's image builds",
		tests:   []string{"TestTiltOnRealNode"},
	},
	{
		pattern: `^apt-get install `,
		why:     "installs system packages (as root); .ci/run does it on CI",
	},
}

// docsRunnable are the programs a documented command may run here; the
// redlane command only with arguments that finish by themselves.
var docsRunnable = map[string]bool{"curl": true, "jq": true, "grep": true, "echo": true, "printf": true, "for": true, "redlane": true}

var (
	redlaneSafeArgs = regexp.MustCompile(`^(config (default|schema|check( .*)?)|version|help)$|(^| )(--help|-h)$`)
	docsURLHost     = regexp.MustCompile(`[a-z]+://([^/\s'"]+)`)
	docsLocalhost   = regexp.MustCompile(`localhost:\d+`)
	goRunRedlane    = regexp.MustCompile(`\bgo run \./cmd/redlane\b`)
)

// docsLineHeader carries the documented line a request comes from, from the
// script's curl to the recording proxy (which removes it).
const docsLineHeader = "X-Redlane-Docs-Line"

// TestDocsRedlaneCommand is not a test: it is the redlane command when
// TestDocs runs a documented CLI line through this test binary
// (REDLANE_DOCS_TEST_RUN=1, arguments after --), so the line runs the same
// run() that main calls without a second binary being built.
func TestDocsRedlaneCommand(t *testing.T) {
	if os.Getenv("REDLANE_DOCS_TEST_RUN") != "1" {
		return
	}
	args := []string{"redlane"}
	for i, a := range os.Args {
		if a == "--" {
			args = append(args, os.Args[i+1:]...)
			break
		}
	}
	if err := run(context.Background(), args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "redlane:", err)
		}
		os.Exit(1)
	}
	os.Exit(0)
}

// TestDocs runs the commands of README.md and docs/*.md against a served
// instance (see the top of this file), and checks docs/metrics.md against
// what /metrics serves once they ran.
func TestDocs(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed to run the documented commands", tool)
			}
			t.Skipf("%s is needed to run the documented commands (apt-get install %s)", tool, tool)
		}
	}
	root, blocks := readDocs(t)
	// Classify every command before starting anything: a command that is
	// neither runnable nor listed fails the test even if nothing runs.
	broken := classifyDocs(t, root, blocks)
	if t.Failed() {
		return
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	// The server runs as README's first command does: embedded, no admin
	// token (admin open). The scripts still send $ADMIN_TOKEN where the docs
	// do, as against a real deployment.
	s := startServer(t, map[string]string{})
	s.waitStatus("/readyz", 200, readyWithin)
	proxy := newRecordingProxy(t, s.URL)
	addr := strings.TrimPrefix(proxy.url, "http://")
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"LANG=C.UTF-8",
		"ADMIN_TOKEN=" + adminToken,
		"REDLANE_DOCS_TEST_BIN=" + bin,
	}
	// redlane runs this test binary as the command (TestDocsRedlaneCommand); curl
	// tells the proxy which documented line a request comes from.
	preamble := "set -euo pipefail\n" +
		"redlane() { REDLANE_DOCS_TEST_RUN=1 \"$REDLANE_DOCS_TEST_BIN\" -test.run='^TestDocsRedlaneCommand$' -- \"$@\"; }\n" +
		"curl() { command curl -H \"" + docsLineHeader + ": ${DOCS_LINE:-?}\" \"$@\"; }\n"
	rewrite := func(s string) string {
		return strings.ReplaceAll(goRunRedlane.ReplaceAllString(s, "redlane"), "localhost:8000", addr)
	}

	ran := 0
	said := map[string]string{} // file:line -> the command and its comments, which must name any 4xx it gets
	for _, b := range blocks {
		var script strings.Builder
		script.WriteString(preamble)
		n := 0
		for _, st := range b.stmts {
			if st.run {
				fmt.Fprintf(&script, "DOCS_LINE=%s\n%s\n", st.where, rewrite(st.text))
				said[st.where] = st.text + "\n" + st.notes
				n++
			}
		}
		if n == 0 {
			continue
		}
		ran += n
		out, err := runScript(t, script.String(), env)
		reqs := proxy.take()
		if err != nil {
			t.Errorf("%s:%d: the block failed: %v\n--- script\n%s--- output\n%s", b.file, b.line, err, script.String(), out)
			continue
		}
		for _, r := range reqs {
			switch {
			case r.status >= 500:
				t.Errorf("%s: %s %s answered %d\n--- output\n%s", r.line, r.method, r.uri, r.status, out)
			case r.status >= 400 && !strings.Contains(said[r.line], strconv.Itoa(r.status)):
				t.Errorf("%s: %s %s answered %d, which the docs do not say it does\n--- output\n%s", r.line, r.method, r.uri, r.status, out)
			}
		}
	}
	for _, st := range broken {
		out, err := runScript(t, preamble+"DOCS_LINE=known-broken\n"+rewrite(st.text)+"\n", env)
		proxy.take()
		if err == nil {
			r := notRun[st.rule]
			t.Errorf("%s works now: remove its notRun entry %q (%s)\n%s", st.where, r.pattern, r.why, out)
		}
	}
	t.Logf("ran %d documented commands in %d blocks", ran, len(blocks))

	t.Run("metrics are documented", func(t *testing.T) {
		checkMetricsDocumented(t, filepath.Join(root, "docs", "metrics.md"), string(s.do("GET", "/metrics", "").Body))
	})
}

// classifyDocs marks each command to run, matches the others against notRun
// and reports those that are neither, and every notRun entry that matches
// nothing or names a test that does not exist. It returns the commands of
// entries known to be broken.
func classifyDocs(t *testing.T, root string, blocks []docBlock) []docStmt {
	t.Helper()
	rules := make([]*regexp.Regexp, len(notRun))
	for i, r := range notRun {
		rules[i] = regexp.MustCompile(r.pattern)
	}
	hits := make([]int, len(notRun))
	var broken []docStmt
	for _, b := range blocks {
		for i := range b.stmts {
			st := &b.stmts[i]
			st.rule = -1
			for j, re := range rules {
				if re.MatchString(st.code) {
					st.rule = j
					hits[j]++
					break
				}
			}
			switch why := runnable(st); {
			case st.rule >= 0 && notRun[st.rule].broken:
				broken = append(broken, *st)
			case st.rule >= 0:
			case st.problem != "":
				t.Errorf("%s: %s\n\t%s", st.where, st.problem, st.code)
			case why != "":
				t.Errorf("%s: command neither run by TestDocs nor listed in its notRun (%s):\n\t%s", st.where, why, st.code)
			default:
				st.run = true
			}
		}
	}
	tests := testFuncNames(t, root)
	for i, r := range notRun {
		if hits[i] == 0 {
			t.Errorf("notRun entry %q matches no documented command: remove it", r.pattern)
		}
		for _, name := range r.tests {
			if !tests[name] {
				t.Errorf("notRun entry %q names test %s, which does not exist", r.pattern, name)
			}
		}
	}
	return broken
}

// runnable says why st cannot run here, or "" when it can.
func runnable(st *docStmt) string {
	for _, c := range st.cmds {
		if !docsRunnable[c[0]] {
			return "runs " + c[0]
		}
		if c[0] == "redlane" && !redlaneSafeArgs.MatchString(strings.Join(c[1:], " ")) {
			return "redlane " + strings.Join(c[1:], " ") + " does not finish by itself"
		}
	}
	for _, m := range docsURLHost.FindAllStringSubmatch(st.code, -1) {
		if m[1] != "localhost:8000" {
			return "talks to " + m[1]
		}
	}
	for _, m := range docsLocalhost.FindAllString(st.code, -1) {
		if m != "localhost:8000" {
			return "talks to " + m
		}
	}
	return ""
}

// runScript runs one block's script in a directory of its own and returns
// its combined output.
func runScript(t *testing.T, script string, env []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// docRequest is one request a documented command made, and its answer.
type docRequest struct {
	line        string
	method, uri string
	status      int
}

// recordingProxy stands in for localhost:8000: it forwards to the server
// under test and records what each documented line asked and got.
type recordingProxy struct {
	url  string
	mu   sync.Mutex
	reqs []docRequest
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	rp := &httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = pr.In.Host },
		ErrorLog: quiet,
	}
	p := &recordingProxy{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := r.Header.Get(docsLineHeader)
		r.Header.Del(docsLineHeader)
		sw := &docsStatusWriter{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(sw, r)
		p.mu.Lock()
		p.reqs = append(p.reqs, docRequest{line, r.Method, r.URL.RequestURI(), sw.status})
		p.mu.Unlock()
	}))
	srv.Config.ErrorLog = quiet
	srv.Start()
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// take returns the requests recorded since the last call.
func (p *recordingProxy) take() []docRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reqs
	p.reqs = nil
	return r
}

// docsStatusWriter remembers the status a response was given.
type docsStatusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *docsStatusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *docsStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// testFuncNames returns the names of every Test function in the repository.
func testFuncNames(t *testing.T, root string) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`(?m)^func (Test\w*)\(`)
	names := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(data, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
