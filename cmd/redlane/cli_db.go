package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/store"
)

// newDBCommand is `redlane db migrate|seed`, for the users database.
func newDBCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var configFile, envFile string
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Migrate or seed the users database",
		Long: `Work on the users database that serve uses: PostgreSQL when DATABASE_URL or
spec.database.url is set, otherwise the SQLite file spec.database.sqlitePath.
(The default in-memory SQLite lives only inside a running serve, which migrates
it at start and creates demo users in it when spec.database.seedUsers asks, or
unasked when Redis is embedded too.)`,
	}
	cmd.PersistentFlags().StringVarP(&configFile, "config", "c", "", "RedlaneConfig file (env REDLANE_CONFIG)")
	cmd.PersistentFlags().StringVar(&envFile, "env-file", ".env", "KEY=VALUE file read into the environment if it exists")

	// open loads the config as serve does and opens the database without
	// seeding it (migrations are applied by Open).
	open := func(ctx context.Context) (*store.Store, error) {
		if configFile == "" {
			configFile = getenv("REDLANE_CONFIG")
		}
		env, err := config.WithDotEnv(getenv, envFile)
		if err != nil {
			return nil, err
		}
		cfg, err := config.Load(configFile, env)
		if err != nil {
			return nil, reportConfigErrors(stderr, "invalid configuration, ", err)
		}
		db := cfg.Spec.Database
		if db.URL == "" && db.SQLitePath == "" {
			return nil, errors.New("no database to work on: set DATABASE_URL (or spec.database.url) or spec.database.sqlitePath; the in-memory default exists only inside redlane serve")
		}
		zero := 0
		db.SeedUsers = &zero
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return store.Open(ctx, db, store.Options{Logger: log})
	}

	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations (serve also does this at start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			for _, m := range s.AppliedAtOpen() {
				fmt.Fprintf(stdout, "applied %s\n", m.Source)
			}
			cur, latest, err := s.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s schema at version %d (latest %d)\n", s.Dialect(), cur, latest)
			return nil
		},
	}
	var users int
	seed := &cobra.Command{
		Use:   "seed --users N",
		Short: "Create demo users user1..userN (password password123); existing ones are kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if users < 1 || users > 10_000_000 {
				return fmt.Errorf("--users must be 1-10000000, got %d", users)
			}
			s, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			start := time.Now()
			n, err := s.Seed(cmd.Context(), users)
			if err != nil {
				return err
			}
			total, _ := s.Count(cmd.Context())
			fmt.Fprintf(stdout, "created %d demo users in %s (%d users in all)\n", n, time.Since(start).Round(time.Millisecond), total)
			return nil
		},
	}
	seed.Flags().IntVar(&users, "users", 0, "how many demo users (user1..userN)")
	_ = seed.MarkFlagRequired("users")
	cmd.AddCommand(migrate, seed)
	return cmd
}
