// Command redlane-chaos runs Redlane under injected faults and prints one
// line per scenario with its figures and verdict, then "N passed, M
// failed" (package internal/chaos has the scenarios).
//
//	redlane-chaos -profile long            # make chaos: every scenario, full size
//	redlane-chaos -profile short           # make chaos-short: those that pass today, small
//	redlane-chaos -run 'cluster' -v        # a selection, with progress on stderr
//
// It starts everything it needs on loopback (redis-server, a private
// PostgreSQL, redlane built from this module) and stops it all by PID. The
// same binary, re-executed with REDLANE_CHAOS_CLIENT set, is the clients.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/redlane/redlane/internal/chaos"
)

func main() {
	if code, ran := chaos.RunClient(os.Args[1:]); ran {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "redlane-chaos:", err)
		os.Exit(1)
	}
}

var errFailed = errors.New("scenarios failed")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redlane-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "long", "short (scenarios that pass today, small load) or long (every scenario, full size)")
	runRE := fs.String("run", "", "scenarios whose name matches this regular expression, any profile's, at the profile's size")
	verbose := fs.Bool("v", false, "progress on stderr: processes, phases, where the logs are")
	keep := fs.Bool("keep", false, "keep the work directory (logs and client records)")
	redlane := fs.String("redlane", "", "a prebuilt redlane binary (default: go build ./cmd/redlane)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o := chaos.Options{Profile: *profile, Out: stdout, ClientBin: self, RedlaneBin: *redlane, Keep: *keep}
	if *runRE != "" {
		if o.Run, err = regexp.Compile(*runRE); err != nil {
			return fmt.Errorf("-run: %w", err)
		}
	}
	if *verbose {
		o.Verbose = stderr
	}
	sum, err := chaos.Run(ctx, o)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d %w", sum.Failed, sum.Failed+sum.Passed, errFailed)
	}
	return nil
}
