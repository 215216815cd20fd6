package store_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/pgtest"
	"github.com/redlane/redlane/internal/redistest"
	"github.com/redlane/redlane/internal/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// cheap keeps tests fast; TestPasswordDefaults covers the real cost.
var cheap = store.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}

func none() *int { n := 0; return &n }

func open(t *testing.T, cfg config.Database) *store.Store {
	t.Helper()
	cfg.QueryTimeout = config.D(5 * time.Second)
	s, err := store.Open(context.Background(), cfg, store.Options{Hash: cheap})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEachBackend runs fn on an empty store of each kind.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	backends := map[string]func(t *testing.T) *store.Store{
		"sqlite": func(t *testing.T) *store.Store {
			return open(t, config.Database{SeedUsers: none()})
		},
		"postgres": func(t *testing.T) *store.Store {
			return open(t, config.Database{URL: pgtest.Database(t), MaxOpenConns: 5})
		},
	}
	for name, mk := range backends {
		t.Run(name, func(t *testing.T) { fn(t, mk(t)) })
	}
}

func TestCRUD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u, err := s.Create(ctx, store.NewUser{Username: "Ann", Email: "ann@example.com", DisplayName: "Ann Lee", Password: "correct horse"})
		if err != nil {
			t.Fatal(err)
		}
		if u.ID == 0 || u.Username != "ann" || u.Role != "user" || u.CreatedAt.IsZero() || !u.CreatedAt.Equal(u.UpdatedAt) {
			t.Fatalf("created %+v", u)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$") || strings.Contains(u.PasswordHash, "correct horse") {
			t.Fatalf("password stored as %q", u.PasswordHash)
		}
		got, err := s.GetUser(ctx, u.ID)
		if err != nil || got.Username != "ann" || got.Email != "ann@example.com" || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("GetUser = %+v, %v (created %v)", got, err, u.CreatedAt)
		}
		if got, err := s.GetByUsername(ctx, " ANN "); err != nil || got.ID != u.ID {
			t.Fatalf("GetByUsername = %+v, %v", got, err)
		}
		if _, err := s.Create(ctx, store.NewUser{Username: "ann", Email: "x@example.com", Password: "whatever1"}); !errors.Is(err, store.ErrUsernameTaken) {
			t.Fatalf("duplicate username: %v", err)
		}

		time.Sleep(2 * time.Millisecond) // updated_at must move past created_at
		name := "Ann B. Lee"
		p, err := s.Patch(ctx, u.ID, store.Patch{DisplayName: &name})
		if err != nil || p.DisplayName != name || p.Email != "ann@example.com" || !p.UpdatedAt.After(u.UpdatedAt) {
			t.Fatalf("Patch = %+v, %v", p, err)
		}
		r, err := s.Update(ctx, u.ID, store.Replacement{Username: "ann2", Email: "ann2@example.com", Role: "admin"})
		if err != nil || r.Username != "ann2" || r.DisplayName != "" || r.Role != "admin" || r.PasswordHash != u.PasswordHash {
			t.Fatalf("Update = %+v, %v", r, err)
		}
		if _, err := s.Patch(ctx, 999999, store.Patch{DisplayName: &name}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("patch missing: %v", err)
		}
		if err := s.Delete(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.Delete(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestManyListSeed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		n, err := s.Seed(ctx, 603)
		if err != nil || n != 603 {
			t.Fatalf("Seed = %d, %v", n, err)
		}
		if n, err := s.Seed(ctx, 605); err != nil || n != 2 {
			t.Fatalf("Seed again = %d, %v; want only the 2 new users", n, err)
		}
		if c, err := s.Count(ctx); err != nil || c != 605 {
			t.Fatalf("Count = %d, %v", c, err)
		}
		us, err := s.GetMany(ctx, []int64{3, 1, 999999, 2})
		if err != nil || len(us) != 3 {
			t.Fatalf("GetMany = %d users, %v", len(us), err)
		}
		seen := map[int64]string{}
		for _, u := range us {
			seen[u.ID] = u.Username
		}
		if seen[1] != "user1" || seen[2] != "user2" || seen[3] != "user3" {
			t.Fatalf("GetMany = %v", seen)
		}
		page, err := s.List(ctx, store.Page{Limit: 10})
		if err != nil || len(page) != 10 || page[0].ID != 1 || page[9].ID != 10 {
			t.Fatalf("List page 1: %d, %v", len(page), err)
		}
		page, err = s.List(ctx, store.Page{After: 600, Limit: 10})
		if err != nil || len(page) != 5 || page[0].ID != 601 {
			t.Fatalf("List last page: %d, %v", len(page), err)
		}
		if _, err := s.VerifyPassword(ctx, "user605", store.DemoPassword); err != nil {
			t.Fatalf("seeded user cannot log in: %v", err)
		}
	})
}

func TestVerifyPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.Create(ctx, store.NewUser{Username: "bob", Email: "bob@example.com", Password: "s3cret-pass"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, user, pass string
			ok               bool
		}{
			{"right", "bob", "s3cret-pass", true},
			{"right, other case", "BOB", "s3cret-pass", true},
			{"wrong password", "bob", "s3cret-pasS", false},
			{"empty password", "bob", "", false},
			{"no such user", "nobody", "s3cret-pass", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u, err := s.VerifyPassword(ctx, tc.user, tc.pass)
				if tc.ok && (err != nil || u.Username != "bob") {
					t.Fatalf("VerifyPassword = %v, %v", u, err)
				}
				if !tc.ok && !errors.Is(err, store.ErrInvalidCredentials) {
					t.Fatalf("VerifyPassword = %v, %v; want ErrInvalidCredentials", u, err)
				}
			})
		}
	})
}

func TestConcurrentCreatesOneWins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, taken := 0, 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Create(context.Background(), store.NewUser{Username: "race", Email: "r@example.com", Password: "password1"})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrUsernameTaken):
					taken++
				default:
					t.Errorf("create: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || taken != 7 {
			t.Fatalf("wins=%d taken=%d, want 1 and 7", wins, taken)
		}
	})
}

func TestMigrationsAreIdempotentAndConcurrent(t *testing.T) {
	url := pgtest.Database(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ { // four pods starting at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(context.Background(), config.Database{URL: url, MaxOpenConns: 2, QueryTimeout: config.D(5 * time.Second)}, store.Options{Hash: cheap})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	s := open(t, config.Database{URL: url, MaxOpenConns: 2})
	cur, latest, err := s.SchemaVersion(context.Background())
	if err != nil || cur != latest || cur < 1 {
		t.Fatalf("schema version %d/%d, %v", cur, latest, err)
	}
	if applied, err := s.Migrate(context.Background()); err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, %v", applied, err)
	}
}

func TestEmbeddedSeedsDemoUsers(t *testing.T) {
	n := 250
	s := open(t, config.Database{SeedUsers: &n})
	if c, _ := s.Count(context.Background()); c != 250 {
		t.Fatalf("count = %d", c)
	}
	if _, err := s.VerifyPassword(context.Background(), "user1", "password123"); err != nil {
		t.Fatalf("user1/password123: %v", err)
	}
}

func TestSQLiteFileKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	n := 5
	cfg := config.Database{SQLitePath: path, SeedUsers: &n, MaxOpenConns: 4, QueryTimeout: config.D(5 * time.Second)}
	s, err := store.Open(context.Background(), cfg, store.Options{Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(context.Background(), store.NewUser{Username: "keep", Email: "k@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, cfg) // not empty: no second seeding
	if c, _ := s.Count(context.Background()); c != 6 {
		t.Fatalf("count after reopen = %d, want 6", c)
	}
}

func TestInMemoryWritesNothing(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	s := open(t, config.Database{SeedUsers: none()})
	if _, err := s.Create(context.Background(), store.NewUser{Username: "mem", Email: "m@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("in-memory SQLite wrote %v into the working directory", ents)
	}
}

func TestPasswordDefaults(t *testing.T) {
	h, err := store.HashPassword("password123", store.DefaultHashParams)
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q, %v", h, err)
	}
	for _, tc := range []struct {
		hash, pass string
		ok         bool
		err        bool
	}{
		{h, "password123", true, false},
		{h, "password124", false, false},
		{"plain", "plain", false, true},
		{"$argon2id$v=19$m=0,t=2,p=1$AAAA$AAAA", "x", false, true},
		{"$argon2i$v=19$m=19456,t=2,p=1$AAAA$AAAA", "x", false, true},
	} {
		ok, err := store.CheckPassword(tc.hash, tc.pass)
		if ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("CheckPassword(%q, %q) = %v, %v", tc.hash, tc.pass, ok, err)
		}
	}
}

// TestSeededUsersLogIn checks the precomputed demo hash: every seeded user
// logs in with DemoPassword at the default cost, and with nothing else.
func TestSeededUsersLogIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if n, err := s.Seed(ctx, 2); err != nil || n != 2 {
			t.Fatalf("Seed = %d, %v", n, err)
		}
		u, err := s.VerifyPassword(ctx, "user2", store.DemoPassword)
		if err != nil || u.Username != "user2" || u.Email != "user2@example.com" || u.DisplayName != "Demo User 2" || u.Role != "user" {
			t.Fatalf("VerifyPassword(user2) = %+v, %v", u, err)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("demo hash %q is not at the default cost", u.PasswordHash)
		}
		if _, err := s.VerifyPassword(ctx, "user1", "password124"); !errors.Is(err, store.ErrInvalidCredentials) {
			t.Errorf("wrong password: %v", err)
		}
	})
}

func TestInputValidation(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name  string
		in    store.NewUser
		field string
	}{
		{"ok", store.NewUser{Username: "ok_user", Email: "a@b.co", Password: "password1"}, ""},
		{"short username", store.NewUser{Username: "ab", Email: "a@b.co", Password: "password1"}, "username"},
		{"bad username", store.NewUser{Username: "a b c", Email: "a@b.co", Password: "password1"}, "username"},
		{"bad email", store.NewUser{Username: "abc", Email: "Ann <a@b.co>", Password: "password1"}, "email"},
		{"short password", store.NewUser{Username: "abc", Email: "a@b.co", Password: "short"}, "password"},
		{"long password", store.NewUser{Username: "abc", Email: "a@b.co", Password: long}, "password"},
		{"bad role", store.NewUser{Username: "abc", Email: "a@b.co", Password: "password1", Role: "root"}, "role"},
		{"display name with an emoji sequence", store.NewUser{Username: "abc", Email: "a@b.co", Password: "password1", DisplayName: "Ann \U0001F468\u200D\U0001F469\u200D\U0001F467 Lee"}, ""},
		{"display name right-to-left override", store.NewUser{Username: "abc", Email: "a@b.co", Password: "password1", DisplayName: "Ann\u202Egnp.exe"}, "display_name"},
		{"display name isolate", store.NewUser{Username: "abc", Email: "a@b.co", Password: "password1", DisplayName: "Ann\u2067x"}, "display_name"},
		{"display name BEL", store.NewUser{Username: "abc", Email: "a@b.co", Password: "password1", DisplayName: "Ann\a"}, "display_name"},
		{"display name line break", store.NewUser{Username: "abc", Email: "a@b.co", Password: "password1", DisplayName: "Ann\nadmin"}, "display_name"},
		{"display name NUL", store.NewUser{Username: "abc", Email: "a@b.co", Password: "password1", DisplayName: "Ann\x00"}, "display_name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.in.Valid()
			if tc.field == "" && len(bad) != 0 || tc.field != "" && bad[tc.field] == "" {
				t.Fatalf("Valid() = %v, want a problem with %q", bad, tc.field)
			}
		})
	}
	if bad := (store.Patch{}).Valid(); len(bad) == 0 {
		t.Fatal("empty patch accepted")
	}
}

// TestOpenWaitsForTheDatabase: a PostgreSQL that cannot be reached yet (a
// first install, where the database starts beside Redlane) is waited for
// instead of failing the start; a refused login is not.
func TestOpenWaitsForTheDatabase(t *testing.T) {
	u, err := url.Parse(pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := redistest.NewProxy(t, u.Host)
	proxy.Cut()
	u.Host = proxy.Addr()
	opened := make(chan error, 1)
	go func() {
		s, err := store.Open(context.Background(), config.Database{URL: u.String(), MaxOpenConns: 2, QueryTimeout: config.D(5 * time.Second)}, store.Options{Hash: cheap})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned while the database could not be reached: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	proxy.Restore()
	if err := <-opened; err != nil {
		t.Fatalf("Open after the database came up: %v", err)
	}

	u.User = url.UserPassword("postgres", "wrong")
	u.Path = "/no_such_database"
	start := time.Now()
	if _, err := store.Open(context.Background(), config.Database{URL: u.String(), MaxOpenConns: 2}, store.Options{Hash: cheap}); err == nil {
		t.Fatal("Open of a database that does not exist succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a refused connection was waited on for %s; only an unreachable database is", d)
	}
}
