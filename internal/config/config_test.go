package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/config"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseErrorsNameFieldPaths(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown top field", "spec:\n  bogus: 1\n", []string{"spec.bogus: unknown field"}},
		{"unknown nested field with hint", "spec:\n  redis:\n    URL: redis://x\n", []string{`spec.redis.URL: unknown field (did you mean "url"?)`}},
		{"wrong type", "spec:\n  redis:\n    port: abc\n", []string{`spec.redis.port: must be an integer, got string "abc"`}},
		{"duration as number", "spec:\n  cache:\n    defaultTTL: 300\n", []string{`spec.cache.defaultTTL: must be a duration string`}},
		{"bad duration", "spec:\n  cache:\n    defaultTTL: 5 minutes\n", []string{`spec.cache.defaultTTL: must be a duration such as`}},
		{"list item field", "spec:\n  rateLimits:\n    - name: a\n      limt: 3\n", []string{"spec.rateLimits[0].limt: unknown field"}},
		{"duplicate key", "spec:\n  redis: {}\n  redis: {}\n", []string{`spec.redis: key "redis" already set on line 2, set again on line 3`}},
		{"duplicate key in a list item", "spec:\n  rateLimits:\n    - {name: a, name: b}\n", []string{`spec.rateLimits[0].name: key "name" already set`}},
		{"duplicate key beside other problems", "spec:\n  log: {level: info}\n  bogus: 1\n  log: {level: debug}\n  redis: {port: abc}\n",
			[]string{`spec.log: key "log" already set on line 2, set again on line 4`, "spec.bogus: unknown field", `spec.redis.port: must be an integer`}},
		{"not a mapping", "- a\n- b\n", []string{"must be a mapping"}},
		{"every problem at once", "spec:\n  a: 1\n  b: 2\n  server:\n    address: 5\n", []string{"spec.a: unknown field", "spec.b: unknown field", "spec.server.address: must be a string"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	doc := `apiVersion: redlane.dev/v2
kind: Other
spec:
  server:
    address: "nope"
    maxBodyBytes: -1
    trustedProxies: ["10.0.0.0/8", "banana"]
    cors: {allowedOrigins: ["*"], allowCredentials: true}
  log: {level: loud}
  redis:
    url: http://x
    addrs: ["a:1"]
    db: 99
    keyPrefix: "a b"
  security: {secretKey: short, adminToken: short}
  sessions: {idleTimeout: 48h, absoluteTimeout: 24h}
  rateLimits:
    - {name: x, key: cookie, limit: 0, period: 0s, match: {pathPrefix: api, methods: [get]}}
    - {name: x, key: ip, limit: 1, period: 1s}
`
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(p, envMap(nil))
	es, ok := config.AsErrors(err)
	if !ok {
		t.Fatalf("error %v is not a field error list", err)
	}
	got := map[string]bool{}
	for _, e := range es {
		got[e.Path] = true
	}
	for _, path := range []string{
		"apiVersion", "kind", "spec.server.address", "spec.server.maxBodyBytes", "spec.server.trustedProxies[1]",
		"spec.server.cors.allowedOrigins[0]", "spec.log.level", "spec.redis.url", "spec.redis.addrs", "spec.redis.db",
		"spec.redis.keyPrefix", "spec.security.secretKey", "spec.security.adminToken", "spec.sessions.idleTimeout",
		"spec.rateLimits[0].key", "spec.rateLimits[0].limit", "spec.rateLimits[0].period",
		"spec.rateLimits[0].match.pathPrefix", "spec.rateLimits[0].match.methods[0]", "spec.rateLimits[1].name",
	} {
		if !got[path] {
			t.Errorf("no error for %s; got:\n%v", path, err)
		}
	}
	if got["spec.server.trustedProxies[0]"] {
		t.Error("valid CIDR reported as bad")
	}
}

func TestEnvOverridesSeedNames(t *testing.T) {
	env := map[string]string{
		"REDIS_HOST": "redis.internal", "REDIS_PORT": "6380", "REDIS_DB": "2", "REDIS_PASSWORD": "pw",
		"SECRET_KEY": strings.Repeat("k", 32), "DEBUG": "True", "CACHE_TTL": "300", "SESSION_TTL": "1800",
		"PORT": "9000", "ADMIN_TOKEN": strings.Repeat("a", 32), "DATABASE_URL": "postgres://u@db/app",
	}
	c, err := config.Load("", envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Spec
	checks := []struct {
		name      string
		got, want any
	}{
		{"redis.host", s.Redis.Host, "redis.internal"},
		{"redis.port", s.Redis.Port, 6380},
		{"redis.db", s.Redis.DB, 2},
		{"redis.password", s.Redis.Password, "pw"},
		{"security.secretKey", s.Security.SecretKey, strings.Repeat("k", 32)},
		{"debug", s.Debug, true},
		{"log.level follows DEBUG", s.Log.Level, "debug"},
		{"cache.defaultTTL", s.Cache.DefaultTTL.Duration, 300 * time.Second},
		{"sessions.idleTimeout", s.Sessions.IdleTimeout.Duration, 1800 * time.Second},
		{"server.address", s.Server.Address, ":9000"},
		{"database.url", s.Database.URL, "postgres://u@db/app"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestEnvWinsOverFileAndURLOverHost(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("spec:\n  cache: {defaultTTL: 1m}\n  server: {address: '127.0.0.1:7000'}\n"), 0o600)
	c, err := config.Load(p, envMap(map[string]string{"CACHE_TTL": "2m", "PORT": "7001", "REDIS_URL": "redis://localhost:6379/0", "REDIS_HOST": "localhost"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Cache.DefaultTTL.Duration != 2*time.Minute {
		t.Errorf("CACHE_TTL did not override the file: %s", c.Spec.Cache.DefaultTTL)
	}
	if c.Spec.Server.Address != "127.0.0.1:7001" {
		t.Errorf("PORT should keep the file's host: %s", c.Spec.Server.Address)
	}
}

func TestBadEnvNamesTheVariable(t *testing.T) {
	_, err := config.Load("", envMap(map[string]string{"REDIS_PORT": "x", "CACHE_TTL": "-5", "DEBUG": "maybe", "PORT": "99999"}))
	for _, w := range []string{"env REDIS_PORT", "env CACHE_TTL", "env DEBUG", "env PORT"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %s", err, w)
		}
	}
}

func TestDotEnvFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ".env")
	os.WriteFile(p, []byte("# seed style\nREDIS_HOST=localhost\nREDIS_PORT=6379\nREDIS_PASSWORD=\nCACHE_TTL=300\nDEBUG=True\n"), 0o600)
	env, err := config.WithDotEnv(envMap(map[string]string{"CACHE_TTL": "60"}), p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Redis.Host != "localhost" || !c.Spec.Debug {
		t.Errorf(".env values not applied: host=%q debug=%v", c.Spec.Redis.Host, c.Spec.Debug)
	}
	if c.Spec.Cache.DefaultTTL.Duration != time.Minute {
		t.Errorf("real environment should win over .env: %s", c.Spec.Cache.DefaultTTL)
	}
	if _, err := config.WithDotEnv(envMap(nil), filepath.Join(dir, "missing")); err != nil {
		t.Errorf("a missing .env is not an error: %v", err)
	}
}

// TestLoadReportsEveryProblem: a duplicate key, a malformed value, a bad
// environment variable and invalid values are all reported by one Load,
// each with its path; a dropped value is not blamed a second time.
func TestLoadReportsEveryProblem(t *testing.T) {
	doc := `apiVersion: redlane.dev/v1alpha1
kind: RedlaneConfig
spec:
  log: {level: info}
  server: {address: nope}
  log: {format: fancy}
  sessions: {idleTimeout: later, absoluteTimeout: 10m}
  redis: {porrt: 1}
`
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(p, envMap(map[string]string{"REDIS_DB": "x"}))
	es, ok := config.AsErrors(err)
	if !ok {
		t.Fatalf("error %v is not a field error list", err)
	}
	got := map[string]string{}
	for _, e := range es {
		got[e.Path] = e.Message
	}
	for path, want := range map[string]string{
		"spec.log":                  `key "log" already set on line 4, set again on line 6`,
		"spec.sessions.idleTimeout": `must be a duration such as "300s" or "5m", got "later"`,
		"spec.redis.porrt":          "unknown field",
		"env REDIS_DB":              "must be an integer",
		"spec.server.address":       "must be HOST:PORT",
		"spec.log.format":           "must be one of auto, json, text",
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s: got %q, want %q; all:\n%v", path, got[path], want, err)
		}
	}
	// idleTimeout was dropped and defaults to 30m, above absoluteTimeout:
	// that is not the author's mistake, the malformed value is.
	if n := strings.Count(err.Error(), "spec.sessions.idleTimeout"); n != 1 {
		t.Errorf("spec.sessions.idleTimeout reported %d times, want once:\n%v", n, err)
	}
}

// TestPrecedence: defaults < file < .env < environment, as serve --help says;
// an empty environment variable counts as unset.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("spec:\n  log: {level: warn, format: json}\n  cache: {defaultTTL: 1m}\n  redis: {keyPrefix: 'file:'}\n"), 0o600)
	dotenv := filepath.Join(dir, ".env")
	os.WriteFile(dotenv, []byte("LOG_LEVEL=error\nLOG_FORMAT=text\nREDIS_KEY_PREFIX=dotenv:\n"), 0o600)
	env, err := config.WithDotEnv(envMap(map[string]string{"LOG_LEVEL": "debug", "REDIS_KEY_PREFIX": ""}), dotenv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(file, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ what, got, want string }{
		{"default (nothing sets it)", c.Spec.Server.Address, ":8000"},
		{"file over default", c.Spec.Cache.DefaultTTL.String(), "1m"},
		{".env over file", c.Spec.Log.Format, "text"},
		{"environment over .env and file", c.Spec.Log.Level, "debug"},
		{"empty environment variable is unset", c.Spec.Redis.KeyPrefix, "dotenv:"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.what, tc.got, tc.want)
		}
	}
}

func TestDefaultDocumentIsValidAndComplete(t *testing.T) {
	doc := config.DefaultDocument()
	c, err := config.Parse(doc)
	if err != nil {
		t.Fatalf("default document does not parse: %v", err)
	}
	config.SetDefaults(c)
	if err := config.Validate(c); err != nil {
		t.Fatalf("default document invalid: %v", err)
	}
	a, _ := json.Marshal(c)
	b, _ := json.Marshal(config.Default())
	if strings.ReplaceAll(string(a), ":[]", ":null") != string(b) { // "[]" and nil mean the same
		t.Errorf("default document differs from Default():\n%s\n%s", a, b)
	}
	if !strings.Contains(string(doc), "# Sliding idle timeout") {
		t.Error("default document has no field comments")
	}
}

func TestRedactHidesSecrets(t *testing.T) {
	c := config.Default()
	c.Spec.Redis.URL = "redis://user:hunter2-redis@redis:6379/0"
	c.Spec.Redis.Password = "hunter2-pass"
	c.Spec.Redis.Sentinel.Password = "hunter2-sentinel"
	c.Spec.Database.URL = "postgres://app:hunter2-db@db:5432/app?sslmode=disable"
	c.Spec.Security.SecretKey = "hunter2-secret-key-hunter2-secret-key"
	c.Spec.Security.AdminToken = "hunter2-admin-token-hunter2-admin-token"
	out, _ := json.Marshal(config.Redact(c))
	if strings.Contains(string(out), "hunter2") {
		t.Fatalf("secret leaked: %s", out)
	}
	for _, keep := range []string{"redis:6379", "db:5432", "user"} {
		if !strings.Contains(string(out), keep) {
			t.Errorf("redaction removed non-secret %q", keep)
		}
	}
	if c.Spec.Redis.Password != "hunter2-pass" {
		t.Error("Redact modified its input")
	}
}

func TestMergeAppliesHotFieldsOnly(t *testing.T) {
	cur := config.Default()
	next := config.Default()
	next.Spec.Log.Level = "debug"
	next.Spec.Cache.DefaultTTL = config.D(time.Minute)
	next.Spec.RateLimits[0].Limit = 99
	next.Spec.Server.CORS.AllowedOrigins = []string{"https://app.example"}
	next.Spec.Redis.URL = "redis://other:6379/0"
	next.Spec.Server.Address = ":9999"
	next.Spec.Server.TrustedProxies = []string{} // empty equals unset: not a change
	eff, pending := config.Merge(cur, next)
	if eff.Spec.Log.Level != "debug" || eff.Spec.Cache.DefaultTTL.Duration != time.Minute ||
		eff.Spec.RateLimits[0].Limit != 99 || len(eff.Spec.Server.CORS.AllowedOrigins) != 1 {
		t.Errorf("hot fields not applied: %+v", eff.Spec)
	}
	if eff.Spec.Redis.URL != "" || eff.Spec.Server.Address != ":8000" {
		t.Errorf("restart-only fields applied: url=%q address=%q", eff.Spec.Redis.URL, eff.Spec.Server.Address)
	}
	want := "spec.redis.url,spec.server.address"
	if got := strings.Join(sorted(pending), ","); got != want {
		t.Errorf("pending = %s, want %s", got, want)
	}
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestDemoUsersOnlyInTheAllEmbeddedModeOrWhenAsked: demo users have a public
// password, so an unset spec.database.seedUsers gives them only when both
// Redis and the database are embedded in the process; a number asks for them
// anywhere the database is embedded SQLite, and a PostgreSQL URL never gets them.
func TestDemoUsersOnlyInTheAllEmbeddedModeOrWhenAsked(t *testing.T) {
	for _, tc := range []struct {
		name          string
		doc           string
		embeddedRedis bool
		want          int
	}{
		{"all embedded", "", true, config.DefaultDemoUsers},
		{"all embedded, none asked", "spec:\n  database: {seedUsers: 0}\n", true, 0},
		{"all embedded, a few asked", "spec:\n  database: {seedUsers: 7}\n", true, 7},
		{"real Redis, in-memory SQLite", "", false, 0},
		{"real Redis, in-memory SQLite, asked", "spec:\n  database: {seedUsers: 300}\n", false, 300},
		{"embedded Redis, SQLite file", "spec:\n  database: {sqlitePath: /tmp/u.db}\n", true, 0},
		{"SQLite file, asked", "spec:\n  database: {sqlitePath: /tmp/u.db, seedUsers: 5}\n", false, 5},
		{"PostgreSQL", "spec:\n  database: {url: 'postgres://db/app'}\n", true, 0},
		{"PostgreSQL, asked: db seed does it", "spec:\n  database: {url: 'postgres://db/app', seedUsers: 9}\n", false, 0},
		{"explicit null is unset", "spec:\n  database: {seedUsers: null}\n", true, config.DefaultDemoUsers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			config.SetDefaults(c)
			if err := config.Validate(c); err != nil {
				t.Fatal(err)
			}
			if got := c.Spec.Database.DemoUsers(tc.embeddedRedis); got != tc.want {
				t.Errorf("DemoUsers(embeddedRedis=%v) = %d, want %d", tc.embeddedRedis, got, tc.want)
			}
		})
	}
	if d := config.Default().Spec.Database.SeedUsers; d != nil {
		t.Errorf("the default document sets seedUsers to %d: unset must stay distinguishable from set", *d)
	}
}
