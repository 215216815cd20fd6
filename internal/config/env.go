package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/joho/godotenv"
)

// EnvVars lists every environment variable that overrides the document, with
// the field it sets. The .env names of the FastAPI + Redis
// application Redlane stands in for (REDIS_URL, CACHE_TTL, ...) come first.
var EnvVars = []struct{ Name, Field string }{
	{"REDIS_URL", "spec.redis.url"},
	{"REDIS_HOST", "spec.redis.host"},
	{"REDIS_PORT", "spec.redis.port"},
	{"REDIS_DB", "spec.redis.db"},
	{"REDIS_PASSWORD", "spec.redis.password"},
	{"SECRET_KEY", "spec.security.secretKey"},
	{"DEBUG", "spec.debug"},
	{"CACHE_TTL", "spec.cache.defaultTTL (seconds or a duration)"},
	{"SESSION_TTL", "spec.sessions.idleTimeout (seconds or a duration)"},
	{"PORT", "port of spec.server.address"},
	{"REDIS_USERNAME", "spec.redis.username"},
	{"REDIS_ADDRS", "spec.redis.addrs (comma separated)"},
	{"REDIS_CLUSTER_MODE", "spec.redis.clusterMode"},
	{"REDIS_SENTINEL_MASTER", "spec.redis.sentinel.masterName"},
	{"REDIS_SENTINEL_PASSWORD", "spec.redis.sentinel.password"},
	{"REDIS_KEY_PREFIX", "spec.redis.keyPrefix"},
	{"DATABASE_URL", "spec.database.url"},
	{"ADMIN_TOKEN", "spec.security.adminToken"},
	{"VIEWER_TOKEN", "spec.security.viewerToken"},
	{"LOG_LEVEL", "spec.log.level"},
	{"LOG_FORMAT", "spec.log.format"},
}

// ApplyEnv overrides document fields from the environment. Empty variables
// count as unset, as in a typical .env (REDIS_PASSWORD=).
func ApplyEnv(c *Config, getenv func(string) string) error {
	var errs Errors
	bad := func(name, format string, args ...any) {
		errs = append(errs, FieldError{Path: "env " + name, Message: fmt.Sprintf(format, args...)})
	}
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	integer := func(name string, dst *int) {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				bad(name, "must be an integer, got %q", v)
				return
			}
			*dst = n
		}
	}
	boolean := func(name string, dst *bool) {
		if v := getenv(name); v != "" {
			b, err := parseBool(v)
			if err != nil {
				bad(name, "must be true or false, got %q", v)
				return
			}
			*dst = b
		}
	}
	dur := func(name string, dst *Duration) {
		if v := getenv(name); v != "" {
			d, err := parseSecondsOrDuration(v)
			if err != nil || d <= 0 {
				bad(name, "must be a positive number of seconds or a duration like 5m, got %q", v)
				return
			}
			dst.Duration = d
		}
	}

	s := &c.Spec
	str("REDIS_URL", &s.Redis.URL)
	str("REDIS_HOST", &s.Redis.Host)
	integer("REDIS_PORT", &s.Redis.Port)
	integer("REDIS_DB", &s.Redis.DB)
	str("REDIS_PASSWORD", &s.Redis.Password)
	str("SECRET_KEY", &s.Security.SecretKey)
	boolean("DEBUG", &s.Debug)
	dur("CACHE_TTL", &s.Cache.DefaultTTL)
	dur("SESSION_TTL", &s.Sessions.IdleTimeout)
	if v := getenv("PORT"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 65535 {
			bad("PORT", "must be a port number 0-65535, got %q", v)
		} else {
			host := ""
			if s.Server.Address != "" {
				host, _, _ = net.SplitHostPort(s.Server.Address)
			}
			s.Server.Address = net.JoinHostPort(host, v)
		}
	}
	str("REDIS_USERNAME", &s.Redis.Username)
	if v := getenv("REDIS_ADDRS"); v != "" {
		s.Redis.Addrs = nil
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				s.Redis.Addrs = append(s.Redis.Addrs, a)
			}
		}
	}
	boolean("REDIS_CLUSTER_MODE", &s.Redis.ClusterMode)
	str("REDIS_SENTINEL_MASTER", &s.Redis.Sentinel.MasterName)
	str("REDIS_SENTINEL_PASSWORD", &s.Redis.Sentinel.Password)
	str("REDIS_KEY_PREFIX", &s.Redis.KeyPrefix)
	str("DATABASE_URL", &s.Database.URL)
	str("ADMIN_TOKEN", &s.Security.AdminToken)
	str("VIEWER_TOKEN", &s.Security.ViewerToken)
	str("LOG_LEVEL", &s.Log.Level)
	str("LOG_FORMAT", &s.Log.Format)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// WithDotEnv returns a lookup that reads the real environment first and then
// the KEY=VALUE lines of the .env file at path, if it exists. The real
// environment wins, as with docker compose and python-dotenv.
func WithDotEnv(getenv func(string) string, path string) (func(string) string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	vals, err := godotenv.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vals[k]
	}, nil
}
