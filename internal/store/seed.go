package store

import (
	"context"
	"fmt"
	"time"
)

// DemoPassword is the password of every seeded demo user.
const DemoPassword = "password123"

// demoHash is an argon2id hash (DefaultHashParams) of DemoPassword, computed
// once and shared by every demo user: the password is public, so a distinct
// salt protects nothing, and hashing at start-up cost up to a second under
// the race detector on a loaded machine. TestDemoHash checks it.
const demoHash = "$argon2id$v=19$m=19456,t=2,p=1$AuSeew2o+3XS7D+jdvxKLg$v9UosMsI8N6NnL5h4SoPQ6wyPlZ1wjURkM4se8hkYDI"

// seedTimeout bounds the seeding statement: generating and inserting up to
// a million rows is far heavier than the queries spec.database.queryTimeout
// is sized for.
const seedTimeout = 2 * time.Minute

// seedSQL makes the rows in the database itself (a recursive counter), so
// seeding is one statement with three parameters whatever n is, the same
// text for SQLite and PostgreSQL. "WHERE true" resolves SQLite's parsing
// ambiguity between a SELECT's join and the upsert clause.
const seedSQL = `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $1)
INSERT INTO users (username, email, display_name, password_hash, role, created_at, updated_at)
SELECT 'user' || CAST(i AS TEXT), 'user' || CAST(i AS TEXT) || '@example.com', 'Demo User ' || CAST(i AS TEXT), $2, 'user', $3, $3
FROM seq WHERE true
ON CONFLICT (username) DO NOTHING`

// Seed creates demo users user1..userN (role user, password DemoPassword),
// skipping usernames that exist, and returns how many it created.
func (s *Store) Seed(ctx context.Context, n int) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	qctx, cancel := context.WithTimeout(ctx, max(s.timeout, seedTimeout))
	defer cancel()
	res, err := s.db.ExecContext(qctx, seedSQL, n, demoHash, now())
	if err != nil {
		return 0, fmt.Errorf("seeding users 1-%d: %w", n, err)
	}
	created, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("seeding users 1-%d: %w", n, err)
	}
	return int(created), nil
}
