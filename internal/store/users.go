package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// User is one row of the users table. PasswordHash never leaves the
// process: it has no JSON name.
type User struct {
	ID           int64     `json:"id"`
	Username     string    `json:"username"`
	Email        string    `json:"email"`
	DisplayName  string    `json:"display_name"`
	Role         string    `json:"role"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	PasswordHash string    `json:"-"`
}

// IsAdmin reports whether the user has the admin role.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

// MaxMany is the most ids GetMany accepts in one call.
const MaxMany = 1000

const userCols = "id, username, email, display_name, role, created_at, updated_at, password_hash"

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	u := &User{}
	if err := row.Scan(&u.ID, &u.Username, &u.Email, &u.DisplayName, &u.Role, &u.CreatedAt, &u.UpdatedAt, &u.PasswordHash); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// now is the timestamp written on create and update, at the precision both
// databases keep (microseconds).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id int64) (*User, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading user %d: %w", id, err)
	}
	return u, nil
}

// GetByUsername returns the user with that username (compared after
// NormalizeUsername), or ErrNotFound.
func (s *Store) GetByUsername(ctx context.Context, username string) (*User, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE username = $1", NormalizeUsername(username)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading user by username: %w", err)
	}
	return u, nil
}

// GetMany loads the users with the given ids in one query, in no particular
// order; ids that do not exist are simply absent from the result.
func (s *Store) GetMany(ctx context.Context, ids []int64) ([]*User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxMany {
		return nil, fmt.Errorf("loading users: %d ids, at most %d", len(ids), MaxMany)
	}
	var b strings.Builder
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("$" + strconv.Itoa(i+1))
		args[i] = id
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE id IN ("+b.String()+")", args...)
	if err != nil {
		return nil, fmt.Errorf("loading %d users: %w", len(ids), err)
	}
	return collect(rows)
}

// Page selects a slice of users in id order: those after After, at most Limit.
type Page struct {
	After int64
	Limit int
}

// List returns one page of users in id order (keyset pagination: stable
// under concurrent inserts and as cheap on page 1000 as on page 1).
func (s *Store) List(ctx context.Context, p Page) ([]*User, error) {
	if p.Limit <= 0 {
		p.Limit = 50
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE id > $1 ORDER BY id LIMIT $2", p.After, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return collect(rows)
}

// IDs returns up to limit user ids in id order, for cache warming.
func (s *Store) IDs(ctx context.Context, limit int) ([]int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM users ORDER BY id LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("listing user ids: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Count returns the number of users.
func (s *Store) Count(ctx context.Context) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("counting users: %w", err)
	}
	return n, nil
}

func collect(rows *sql.Rows) ([]*User, error) {
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("reading users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading users: %w", err)
	}
	return out, nil
}

// Create hashes the password and inserts the user. A taken username is
// ErrUsernameTaken.
func (s *Store) Create(ctx context.Context, n NewUser) (*User, error) {
	hash, err := HashPassword(n.Password, s.params)
	if err != nil {
		return nil, err
	}
	role := n.Role
	if role == "" {
		role = RoleUser
	}
	t := now()
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	u, err := scanUser(s.db.QueryRowContext(ctx,
		"INSERT INTO users (username, email, display_name, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING "+userCols,
		NormalizeUsername(n.Username), n.Email, n.DisplayName, hash, role, t))
	if err != nil {
		return nil, s.writeErr("creating user", err)
	}
	return u, nil
}

// Update replaces the user's fields (and its password when r.Password is set).
func (s *Store) Update(ctx context.Context, id int64, r Replacement) (*User, error) {
	role := r.Role
	if role == "" {
		role = RoleUser
	}
	p := Patch{Username: &r.Username, Email: &r.Email, DisplayName: &r.DisplayName, Role: &role, Password: r.Password}
	return s.Patch(ctx, id, p)
}

// Patch changes the fields set in p.
func (s *Store) Patch(ctx context.Context, id int64, p Patch) (*User, error) {
	var sets []string
	var args []any
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, col+" = $"+strconv.Itoa(len(args)))
	}
	if p.Username != nil {
		set("username", NormalizeUsername(*p.Username))
	}
	if p.Email != nil {
		set("email", *p.Email)
	}
	if p.DisplayName != nil {
		set("display_name", *p.DisplayName)
	}
	if p.Role != nil {
		set("role", *p.Role)
	}
	if p.Password != nil {
		hash, err := HashPassword(*p.Password, s.params)
		if err != nil {
			return nil, err
		}
		set("password_hash", hash)
	}
	set("updated_at", now())
	args = append(args, id)
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	u, err := scanUser(s.db.QueryRowContext(ctx,
		"UPDATE users SET "+strings.Join(sets, ", ")+" WHERE id = $"+strconv.Itoa(len(args))+" RETURNING "+userCols, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, s.writeErr(fmt.Sprintf("updating user %d", id), err)
	}
	return u, nil
}

// Delete removes the user, or returns ErrNotFound.
func (s *Store) Delete(ctx context.Context, id int64) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, "DELETE FROM users WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("deleting user %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

// VerifyPassword returns the user when username and password match, and
// ErrInvalidCredentials otherwise. A missing user costs the same argon2id
// work as a wrong password (a dummy hash is checked), so timing does not
// tell whether a username exists.
func (s *Store) VerifyPassword(ctx context.Context, username, password string) (*User, error) {
	u, err := s.GetByUsername(ctx, username)
	hash := s.dummy
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	ok, herr := CheckPassword(hash, password)
	if herr != nil && u != nil {
		s.log.Error("stored password hash cannot be parsed", "user_id", u.ID)
	}
	if err != nil || !ok {
		return nil, ErrInvalidCredentials
	}
	return u, nil
}

// writeErr maps a unique violation on username to ErrUsernameTaken.
func (s *Store) writeErr(what string, err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return ErrUsernameTaken
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return ErrUsernameTaken
	}
	return fmt.Errorf("%s: %w", what, err)
}
