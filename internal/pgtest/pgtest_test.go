package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/redlane/redlane/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func TestDatabasesAreSeparateAndReal(t *testing.T) {
	a, b := pgtest.Database(t), pgtest.Database(t)
	if a == b {
		t.Fatal("same database twice")
	}
	ctx := context.Background()
	dba, err := sql.Open("pgx", a)
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close()
	if _, err := dba.ExecContext(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	dbb, _ := sql.Open("pgx", b)
	defer dbb.Close()
	if _, err := dbb.ExecContext(ctx, "SELECT * FROM t"); err == nil {
		t.Fatal("table of database a is visible in database b")
	}
	var v string
	if err := dba.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil || v == "" {
		t.Fatalf("server_version %q, %v", v, err)
	}
	if s := pgtest.Shared(t); s.Port == 5432 {
		t.Fatal("test server on the standard port")
	}
}
