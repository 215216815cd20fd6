// Package store owns the users database: the connection (embedded SQLite by
// default, PostgreSQL when a URL is configured), its schema migrations, and
// the queries on users, including password hashing and verification.
//
// Both backends go through database/sql with the same SQL (positional $N
// parameters, RETURNING), so every query is tested against both.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
)

// Dialect names the database behind a Store.
type Dialect string

// The dialects Open can produce.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Errors callers compare with errors.Is. ErrNotFound and ErrUsernameTaken
// are errdefs errors, so the HTTP layer answers them (404, and 409 naming
// the username field) with no mapping of its own.
var (
	ErrNotFound      = errdefs.NotFound("No such user.")
	ErrUsernameTaken = &errdefs.Error{Kind: errdefs.KindConflict, Detail: "That username is taken.",
		Fields: map[string]string{"username": "already taken"}}
	ErrInvalidCredentials = errors.New("invalid username or password")
)

// Store is the users database.
type Store struct {
	db      *sql.DB
	dialect Dialect
	timeout time.Duration
	params  HashParams
	dummy   string // hash of a random password, verified when a user is missing
	log     *slog.Logger
	applied []Migration
}

// Options tune a Store beyond its config section.
type Options struct {
	Logger *slog.Logger
	// Hash sets the argon2id cost of new password hashes; zero means DefaultHashParams.
	Hash HashParams
}

// Open connects to the database of cfg, applies pending migrations, and, for
// embedded SQLite with no users yet, creates cfg.SeedUsers demo users (none
// when it is nil). Whether there should be any is the caller's decision
// (serve asks config.Database.DemoUsers): their password is public.
func Open(ctx context.Context, cfg config.Database, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	s := &Store{timeout: cfg.QueryTimeout.Duration, params: o.Hash, log: o.Logger}
	if s.timeout <= 0 {
		s.timeout = 3 * time.Second
	}
	var err error
	if cfg.URL != "" {
		s.dialect = Postgres
		s.db, err = sql.Open("pgx", cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("spec.database.url: %w", err)
		}
		s.db.SetMaxOpenConns(cfg.MaxOpenConns)
		s.db.SetMaxIdleConns(cfg.MaxOpenConns)
		s.db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		s.dialect = SQLite
		if s.db, err = openSQLite(cfg); err != nil {
			return nil, err
		}
	}
	if err := s.waitReachable(ctx, o.Logger, connectWait); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connecting to the users database: %w", err)
	}
	if s.applied, err = s.Migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	for _, m := range s.applied {
		o.Logger.Info("applied database migration", "version", m.Version, "source", m.Source)
	}
	if s.dummy, err = HashPassword(rand.Text(), s.params); err != nil {
		s.db.Close()
		return nil, err
	}
	if s.dialect == SQLite && cfg.SeedUsers != nil && *cfg.SeedUsers > 0 {
		n, err := s.Count(ctx)
		if err == nil && n == 0 {
			start := time.Now()
			if _, err = s.Seed(ctx, *cfg.SeedUsers); err == nil {
				o.Logger.Info("seeded demo users", "users", *cfg.SeedUsers, "login", "user1/password123", "took", time.Since(start).Round(time.Millisecond).String())
			}
		}
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("seeding demo users: %w", err)
		}
	}
	return s, nil
}

// connectWait is how long Open waits for a database that cannot be reached
// yet: a PostgreSQL started beside Redlane (the Helm chart's, on a first
// install) takes seconds to accept connections, and exiting at once would
// only make Kubernetes restart the pod.
const connectWait = time.Minute

// waitReachable pings the database until it answers, for at most wait while
// the failure is "cannot reach it"; any other failure (a wrong password, a
// missing database) is returned at once.
func (s *Store) waitReachable(ctx context.Context, log *slog.Logger, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for attempt := 0; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.db.PingContext(pctx)
		cancel()
		var refused *pgconn.PgError // the server answered: no point waiting
		if err == nil || errors.As(err, &refused) || !errdefs.IsUnavailable(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		if attempt == 0 {
			log.Warn("users database not reachable yet; waiting for it", "for", wait.String(), "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// openSQLite opens the embedded database: in memory (one connection, so the
// database lives as long as the Store and nothing touches the disk) or in
// the file cfg.SQLitePath (WAL, several readers).
func openSQLite(cfg config.Database) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	conns := 1
	var dsn string
	if cfg.SQLitePath == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		dsn = "file:redlane-" + hex.EncodeToString(b[:]) + "?mode=memory&" + q.Encode()
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		dsn = "file:" + cfg.SQLitePath + "?" + q.Encode()
		conns = max(cfg.MaxOpenConns, 1)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening embedded SQLite: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// AppliedAtOpen lists the migrations Open applied (none when the schema was current).
func (s *Store) AppliedAtOpen() []Migration { return s.applied }

// Dialect reports which database this is.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks that the database answers, for readiness.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.db.PingContext(ctx)
}

// Close closes the connection pool (and with it an in-memory database).
func (s *Store) Close() error { return s.db.Close() }

// ctx gives a query the configured deadline unless ctx has a sooner one.
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < s.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}
