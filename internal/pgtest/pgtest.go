// Package pgtest runs a private PostgreSQL server for tests, the way
// redistest runs redis-server: initdb into a temporary directory, postgres
// on a free loopback port (never the machine's 5432), one fresh database per
// test, everything removed afterwards. PostgreSQL refuses to run as root, so
// under root the server runs as the "postgres" OS user.
//
// One server is shared by all tests of a test binary and started on first
// use. Call Run from TestMain to stop it and remove its files at the end;
// without it the server dies with the test process (SIGKILL) and the next
// run removes the leftover directory. When PostgreSQL is not installed the
// test is skipped, except under CI=true, where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

var (
	mu     sync.Mutex
	shared *Server
	errRun error
)

// Server is one running postgres process.
type Server struct {
	Dir  string // owns data/, the socket and the log
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	db   *sql.DB // admin connection to the "postgres" database
}

// Run runs the tests of m and then stops the shared server, if one started.
// Use it as: func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }.
func Run(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		shared.Stop()
		shared = nil
	}
	return code
}

// Database creates an empty database on the shared server and returns its
// postgres:// URL; the database is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, name, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: dropping %s: %v", name, err)
		}
	})
	return u
}

// CreateDatabase creates an empty database with a random name and returns
// its postgres:// URL and name; dropping it is the caller's business.
func (s *Server) CreateDatabase(ctx context.Context) (url, name string, err error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "t_" + hex.EncodeToString(b[:])
	if _, err := s.db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", fmt.Errorf("creating database: %w", err)
	}
	return s.URL(name), name, nil
}

// ErrNotInstalled is returned by Start when initdb and postgres are missing.
var ErrNotInstalled = errors.New("PostgreSQL (initdb, postgres) is not installed")

// Start runs a private server outside any test (the fault suite runs it
// from a command); the caller stops it with Stop. Tests use Shared.
func Start() (*Server, error) {
	bin := binDir()
	if bin == "" {
		return nil, ErrNotInstalled
	}
	return start(bin)
}

// Shared returns the test binary's server, starting it on first use.
func Shared(t testing.TB) *Server {
	t.Helper()
	bin := Require(t)
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && errRun == nil {
		shared, errRun = start(bin)
	}
	if errRun != nil {
		t.Fatalf("pgtest: %v", errRun)
	}
	return shared
}

// Admin is a superuser connection to the "postgres" database, for tests
// that manipulate the server (terminate backends, refuse connections).
func (s *Server) Admin() *sql.DB { return s.db }

// URL is the postgres:// URL of database name on this server.
func (s *Server) URL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// Require returns the directory holding initdb and postgres. It skips the
// test when they are missing, or fails it under CI=true.
func Require(t testing.TB) string {
	t.Helper()
	if dir := binDir(); dir != "" {
		return dir
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("PostgreSQL (initdb, postgres) is not installed; CI must install it (.ci/run does)")
	}
	t.Skip("PostgreSQL (initdb, postgres) is not installed")
	return ""
}

// binDir prefers the newest /usr/lib/postgresql/N/bin (Debian), then PATH.
func binDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if executable(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func start(bin string) (*Server, error) {
	removeStale()
	dir, err := os.MkdirTemp("", "redlane-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(err)
	}
	cred, err := credential(dir)
	if err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if lastErr = s.launch(bin, cred); lastErr == nil {
			return s, nil
		}
	}
	return fail(lastErr)
}

// credential makes dir usable by the postgres OS user when we are root.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres OS user to run PostgreSQL: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) launch(bin string, cred *syscall.Credential) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.OpenFile(filepath.Join(s.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(s.Dir, "data"),
		"-p", strconv.Itoa(s.Port), "-k", s.Dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		// mmap instead of SysV/POSIX shared memory: nothing outlives a SIGKILL outside Dir.
		"-c", "shared_memory_type=mmap", "-c", "dynamic_shared_memory_type=mmap",
		"-c", "max_connections=300", "-c", "log_min_messages=warning")
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	db, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			s.db = db
			return nil
		}
		select {
		case <-done:
			db.Close()
			s.cmd = nil
			log, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %s", lastLines(string(log), 5))
		default:
		}
		if time.Now().After(deadline) {
			db.Close()
			return fmt.Errorf("postgres on port %d did not answer within 2m: %v", s.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down (fast shutdown, then SIGKILL after 10 s) and
// removes its directory.
func (s *Server) Stop() {
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		s.cmd = nil
	}
	_ = os.RemoveAll(s.Dir)
}

// removeStale deletes directories left by test processes that died without
// Run stopping their server.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "redlane-pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || alive(pid) {
			continue
		}
		if pm, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			if ppid, err := strconv.Atoi(strings.SplitN(string(pm), "\n", 2)[0]); err == nil && alive(ppid) {
				_ = syscall.Kill(ppid, syscall.SIGKILL)
			}
		}
		_ = os.RemoveAll(d)
	}
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
