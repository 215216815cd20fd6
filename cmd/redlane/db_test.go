package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/pgtest"
	"github.com/redlane/redlane/internal/redistest"
)

// TestMain stops the private PostgreSQL of pgtest after the tests, and
// removes the redlane binary the process tests built.
func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	removeBuiltBinary()
	os.Exit(code)
}

func TestDBCommandsOnPostgres(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.Database(t)}
	out, errOut, err := runCLI(t, env, "db", "migrate")
	if err != nil || !strings.Contains(out, "applied 00001_users.sql") || !strings.Contains(out, "postgres schema at version 1 (latest 1)") {
		t.Fatalf("db migrate: %v\n%s%s", err, out, errOut)
	}
	if out, _, err = runCLI(t, env, "db", "migrate"); err != nil || strings.Contains(out, "applied") {
		t.Fatalf("second db migrate: %v %q", err, out)
	}
	if out, _, err = runCLI(t, env, "db", "seed", "--users", "40"); err != nil || !strings.Contains(out, "created 40 demo users") {
		t.Fatalf("db seed: %v %q", err, out)
	}
	if out, _, err = runCLI(t, env, "db", "seed", "--users", "45"); err != nil || !strings.Contains(out, "created 5 demo users") || !strings.Contains(out, "(45 users in all)") {
		t.Fatalf("db seed again: %v %q", err, out)
	}
	if _, _, err = runCLI(t, env, "db", "seed", "--users", "0"); err == nil {
		t.Fatal("seed --users 0 accepted")
	}

	// serve on the same database: migrations current, demo users not re-seeded, readiness checks it.
	rs := redistest.Start(t)
	env["REDIS_URL"] = rs.URL()
	s := startServer(t, env)
	r := s.waitStatus("/readyz", 200, readyWithin)
	if !strings.Contains(string(r.Body), `"database":"ok"`) {
		t.Fatalf("readiness lacks the database: %s", r.Body)
	}
}

func TestDBCommandsOnSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	cfg := sqliteConfig(t, path, "")
	if out, _, err := runCLI(t, nil, "db", "seed", "--users", "12", "--config", cfg); err != nil || !strings.Contains(out, "created 12 demo users") {
		t.Fatalf("db seed: %v %q", err, out)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no database file: %v", err)
	}
}

// sqliteConfig writes a RedlaneConfig whose users database is the SQLite
// file dbPath, plus moreSpec (YAML lines indented under spec:), and returns
// its path.
func sqliteConfig(t *testing.T, dbPath, moreSpec string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "redlane.yaml")
	writeFile(t, p, "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\nspec:\n  database: {sqlitePath: '"+dbPath+"'}\n"+moreSpec)
	return p
}

func TestDBCommandsNeedADatabase(t *testing.T) {
	_, _, err := runCLI(t, nil, "db", "seed", "--users", "3")
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("db seed without a database: %v", err)
	}
}

func TestReadinessFollowsDatabase(t *testing.T) {
	url := pgtest.Database(t)
	rs := redistest.Start(t)
	s := startServer(t, map[string]string{"REDIS_URL": rs.URL(), "DATABASE_URL": url})
	s.waitStatus("/readyz", 200, readyWithin)
	// Take the database away under the server: readiness must say so, quickly.
	srv := pgtest.Shared(t)
	db := srv.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	if _, err := db.ExecContext(ctx, "ALTER DATABASE "+name+" WITH ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		t.Fatal(err)
	}
	r := s.waitStatus("/readyz", 503, 10*time.Second)
	if strings.Contains(string(r.Body), `"database":"ok"`) {
		t.Fatalf("readiness 503 but database ok: %s", r.Body)
	}
	if _, err := db.ExecContext(ctx, "ALTER DATABASE "+name+" WITH ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	s.waitStatus("/readyz", 200, readyWithin)
}
