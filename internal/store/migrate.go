package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the schema, one directory per dialect, in goose's SQL
// format; goose records applied versions in the goose_db_version table.
//
//go:embed migrations
var migrations embed.FS

// Migration reports one migration that was applied.
type Migration struct {
	Version int64  `json:"version"`
	Source  string `json:"source"`
}

// Migrate applies every pending migration and returns those it applied.
// On PostgreSQL a session advisory lock makes pods that start together
// apply each migration once; SQLite serialises writers itself.
func (s *Store) Migrate(ctx context.Context) ([]Migration, error) {
	p, err := s.migrator()
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("applying migrations: %w", err)
	}
	out := make([]Migration, 0, len(res))
	for _, r := range res {
		out = append(out, Migration{Version: r.Source.Version, Source: r.Source.Path})
	}
	return out, nil
}

// SchemaVersion returns the applied and the newest known schema versions.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := s.migrator()
	if err != nil {
		return 0, 0, err
	}
	return p.GetVersions(ctx)
}

func (s *Store) migrator() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Pods that lose the race retry every second for up to 5 minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	return p, nil
}
