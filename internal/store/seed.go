package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// DemoPassword is the password of every seeded demo user.
const DemoPassword = "password123"

// seedBatch is how many rows one INSERT carries (8 columns each, well under
// SQLite's and PostgreSQL's parameter limits).
const seedBatch = 500

// Seed creates demo users user1..userN (role user, password DemoPassword),
// skipping usernames that exist, and returns how many it created. One real
// argon2id hash is computed and shared by all of them: hashing each would
// take minutes for large N, and demo accounts need no distinct salts.
func (s *Store) Seed(ctx context.Context, n int) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	hash, err := HashPassword(DemoPassword, s.params)
	if err != nil {
		return 0, err
	}
	t := now()
	created := 0
	for start := 1; start <= n; start += seedBatch {
		end := min(start+seedBatch-1, n)
		var b strings.Builder
		args := make([]any, 0, (end-start+1)*6)
		b.WriteString("INSERT INTO users (username, email, display_name, password_hash, role, created_at, updated_at) VALUES ")
		for i := start; i <= end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			k := len(args)
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, 'user', $%d, $%d)", k+1, k+2, k+3, k+4, k+5, k+6)
			name := "user" + strconv.Itoa(i)
			args = append(args, name, name+"@example.com", "Demo User "+strconv.Itoa(i), hash, t, t)
		}
		b.WriteString(" ON CONFLICT (username) DO NOTHING")
		// A batch is one statement of seedBatch rows: give it more than the
		// per-query timeout, which is sized for single-row queries.
		qctx, cancel := context.WithTimeout(ctx, 10*s.timeout)
		res, err := s.db.ExecContext(qctx, b.String(), args...)
		cancel()
		if err != nil {
			return created, fmt.Errorf("seeding users %d-%d: %w", start, end, err)
		}
		if k, err := res.RowsAffected(); err == nil {
			created += int(k)
		}
	}
	return created, nil
}
