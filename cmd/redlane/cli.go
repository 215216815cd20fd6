package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/redlane/redlane/internal/config"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return version
}

func newRootCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "redlane",
		Short: "Redis patterns as a service: cache, sessions, chat rooms, rate limits, locks, queues, leaderboards",
		Long: `Redlane serves the Redis patterns applications keep rewriting as an HTTP/WebSocket API.

Run it with no configuration to get an embedded Redis and database for development:
  redlane serve
Point it at real servers with REDIS_URL / DATABASE_URL or a config file (redlane config default).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCommand(getenv, stderr), newConfigCommand(getenv, stdout, stderr), newVersionCommand(stdout),
		newDBCommand(getenv, stdout, stderr))
	return root
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(stdout, "redlane %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func newConfigCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check, print or describe the configuration document",
	}
	var file string
	var noEnv bool
	check := &cobra.Command{
		Use:   "check -f FILE",
		Short: "Validate a config file; list every problem with its field path",
		Long: `Validate a RedlaneConfig file strictly (unknown fields, duplicates, wrong types, bad values).
Environment variables (and ./.env) are applied as serve would, unless --no-env.
The file is read as serve reads it: a regular file (or a symlink to one) of at
most 1 MiB, within 5 s; devices, FIFOs and larger files are refused at once.
Exits 0 when valid, 1 with every problem listed otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env := getenv
			if noEnv {
				env = func(string) string { return "" }
			} else {
				var err error
				if env, err = config.WithDotEnv(getenv, ".env"); err != nil {
					return err
				}
			}
			if _, err := config.Load(file, env); err != nil {
				return reportConfigErrors(stderr, file+": ", err)
			}
			fmt.Fprintf(stdout, "%s: valid\n", file)
			return nil
		},
	}
	check.Flags().StringVarP(&file, "file", "f", "", "config file to check (required)")
	check.Flags().BoolVar(&noEnv, "no-env", false, "ignore environment variables and .env")
	_ = check.MarkFlagRequired("file")

	def := &cobra.Command{
		Use:   "default",
		Short: "Print a complete default document with comments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := stdout.Write(config.DefaultDocument())
			return err
		},
	}
	schema := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the document (for editors and the Helm chart)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := config.Schema()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, string(b))
			return err
		},
	}
	cmd.AddCommand(check, def, schema)
	return cmd
}

// reportConfigErrors prints every problem of an invalid configuration, one
// per line after "<lead><n> problem(s):", and returns errReported; any other
// error (an unreadable file, say) is returned as it is.
func reportConfigErrors(stderr io.Writer, lead string, err error) error {
	es, ok := config.AsErrors(err)
	if !ok {
		return err
	}
	fmt.Fprintf(stderr, "%s%d problem(s):\n", lead, len(es))
	for _, e := range es {
		fmt.Fprintf(stderr, "  %s\n", e.Error())
	}
	return errReported
}
