package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/redlane/redlane/internal/pgtest"
)

// Options configure a run.
type Options struct {
	// Profile is "short" (the scenarios that pass today, small load: part
	// of make test) or "long" (every scenario at full size: make chaos).
	Profile string
	// Run selects scenarios by name among all of them, at the profile's
	// size (nil: the profile's own selection).
	Run *regexp.Regexp
	// Out gets one line per scenario and the summary.
	Out io.Writer
	// Verbose, when not nil, gets progress: phases, processes, log paths.
	Verbose io.Writer
	// ClientBin is the binary re-executed for client processes (the chaos
	// command itself); empty builds tools/chaos.
	ClientBin string
	// RedlaneBin is a prebuilt redlane; empty builds cmd/redlane.
	RedlaneBin string
	// Keep leaves the work directory (logs and client records) in place.
	Keep bool
}

// ErrMissing is returned when a program the suite runs is not installed.
var ErrMissing = errors.New("not installed")

// Summary is what a run found.
type Summary struct {
	Passed, Failed int
	Elapsed        time.Duration
}

// Run runs the selected scenarios one after another and prints a line for
// each, then "N passed, M failed".
func Run(ctx context.Context, o Options) (Summary, error) {
	start := time.Now()
	p, ok := profiles[o.Profile]
	if !ok {
		return Summary{}, fmt.Errorf("unknown profile %q (short or long)", o.Profile)
	}
	var selected []Scenario
	for _, s := range scenarios {
		if (o.Run == nil && (p.all || s.Short)) || (o.Run != nil && o.Run.MatchString(s.Name)) {
			selected = append(selected, s)
		}
	}
	if len(selected) == 0 {
		return Summary{}, errors.New("no scenario selected")
	}
	if err := requirePrograms(); err != nil {
		return Summary{}, err
	}
	dir, err := os.MkdirTemp("", "redlane-chaos-")
	if err != nil {
		return Summary{}, err
	}
	re := &runEnv{dir: dir, profile: p, clientBin: o.ClientBin, redlaneBin: o.RedlaneBin, verbose: o.Verbose}
	defer func() {
		re.close()
		if o.Keep {
			fmt.Fprintln(o.Out, "work directory kept:", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := re.build(ctx); err != nil {
		return Summary{}, err
	}
	width := 0
	for _, s := range selected {
		width = max(width, len(s.Name))
	}
	var sum Summary
	for _, s := range selected {
		if ctx.Err() != nil {
			break
		}
		res := re.runScenario(ctx, s)
		fmt.Fprintln(o.Out, res.line(s.Name, width))
		if res.passed() {
			sum.Passed++
		} else {
			sum.Failed++
		}
	}
	sum.Elapsed = time.Since(start)
	fmt.Fprintf(o.Out, "%d passed, %d failed\n", sum.Passed, sum.Failed)
	re.logf("run took %s", sum.Elapsed.Round(time.Second))
	return sum, ctx.Err()
}

// requirePrograms checks the servers the suite starts are installed.
func requirePrograms() error {
	for _, b := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s: %w", b, ErrMissing)
		}
	}
	if _, err := exec.LookPath("go"); err != nil {
		return fmt.Errorf("go (to build redlane): %w", ErrMissing)
	}
	return nil
}

// runEnv is what scenarios of one run share: the binaries, the users
// database, the profile.
type runEnv struct {
	dir        string
	profile    profile
	clientBin  string
	redlaneBin string
	verbose    io.Writer

	pgOnce sync.Once
	pg     *pgtest.Server
	dbURL  string
	pgErr  error
}

func (re *runEnv) logf(format string, args ...any) {
	if re.verbose != nil {
		fmt.Fprintf(re.verbose, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
	}
}

// build compiles what is not given, once per run, with the module's go.
func (re *runEnv) build(ctx context.Context) error {
	var pkgs []string
	if re.redlaneBin == "" {
		pkgs = append(pkgs, "./cmd/redlane")
		re.redlaneBin = filepath.Join(re.dir, "bin", "redlane")
	}
	if re.clientBin == "" {
		pkgs = append(pkgs, "./tools/chaos")
		re.clientBin = filepath.Join(re.dir, "bin", "chaos")
	}
	if len(pkgs) == 0 {
		return nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", filepath.Join(re.dir, "bin") + "/"}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	re.logf("built %s in %s", strings.Join(pkgs, " "), time.Since(start).Round(time.Millisecond))
	return nil
}

// moduleRoot is the directory of Redlane's go.mod, from the working
// directory (the repository for the command, the package for its test).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the Redlane module (no go.mod found)")
	}
	return filepath.Dir(gomod), nil
}

// database starts the run's PostgreSQL on first use and seeds the users
// every scenario reads. One shared PostgreSQL, as in production with more
// than one pod: every instance sees the same users, so a user cached by
// one instance is the same user on the other, and the database fallback
// during a Redis outage is a real network database.
func (re *runEnv) database(ctx context.Context) (string, error) {
	re.pgOnce.Do(func() {
		start := time.Now()
		re.pg, re.pgErr = pgtest.Start()
		if errors.Is(re.pgErr, pgtest.ErrNotInstalled) {
			re.pgErr = fmt.Errorf("PostgreSQL: %w", ErrMissing)
		}
		if re.pgErr != nil {
			return
		}
		re.dbURL, _, re.pgErr = re.pg.CreateDatabase(ctx)
		if re.pgErr != nil {
			return
		}
		cmd := exec.CommandContext(ctx, re.redlaneBin, "db", "seed", "--users", fmt.Sprint(seededUsers), "--env-file", os.DevNull)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + re.dbURL}
		if out, err := cmd.CombinedOutput(); err != nil {
			re.pgErr = fmt.Errorf("redlane db seed: %v\n%s", err, out)
			return
		}
		re.logf("PostgreSQL on port %d with %d users in %s", re.pg.Port, seededUsers, time.Since(start).Round(time.Millisecond))
	})
	return re.dbURL, re.pgErr
}

// seededUsers is how many demo users (user1..userN, password123) exist.
const seededUsers = 1000

func (re *runEnv) close() {
	if re.pg != nil {
		re.pg.Stop()
	}
}

// runScenario gives s a fresh Env and stops everything it started, however
// it ends.
func (re *runEnv) runScenario(ctx context.Context, s Scenario) *Result {
	res := &Result{start: time.Now()}
	e := &Env{Dir: filepath.Join(re.dir, s.Name), run: re, log: func(f string, a ...any) { re.logf(s.Name+": "+f, a...) }}
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		res.err = err
		return res
	}
	defer func() {
		if p := recover(); p != nil {
			res.err = fmt.Errorf("panic: %v", p)
		}
		e.Close()
		res.elapsed = time.Since(res.start)
		e.log("done in %s, logs in %s", res.elapsed.Round(time.Millisecond), e.Dir)
	}()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := s.Run(sctx, e, re.profile, res); err != nil {
		res.err = err
	}
	return res
}
