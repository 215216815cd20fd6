package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redlane/redlane/internal/realtime/access"
)

// FieldError is one problem with the document, named by its field path.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// Errors lists every problem found; it is what config check prints.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

type validator struct{ errs Errors }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) positive(path string, d Duration) {
	if d.Duration <= 0 {
		v.add(path, "must be greater than 0, got %s", d)
	}
}

func (v *validator) atLeast(path string, n, min int64) {
	if n < min {
		v.add(path, "must be at least %d, got %d", min, n)
	}
}

func (v *validator) between(path string, n, lo, hi int64) {
	if n < lo || n > hi {
		v.add(path, "must be %d-%d, got %d", lo, hi, n)
	}
}

func (v *validator) atLeastDur(path string, d Duration, min time.Duration) {
	if d.Duration < min {
		v.add(path, "must be at least %s, got %s", min, d)
	}
}

// Validate reports every problem in a defaulted document, or nil.
func Validate(c *Config) error {
	v := &validator{}
	if c.APIVersion != APIVersion {
		v.add("apiVersion", "must be %q, got %q", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		v.add("kind", "must be %q, got %q", Kind, c.Kind)
	}
	s := &c.Spec
	validateServer(v, &s.Server)
	switch s.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("spec.log.level", "must be one of debug, info, warn, error; got %q", s.Log.Level)
	}
	switch s.Log.Format {
	case "auto", "json", "text":
	default:
		v.add("spec.log.format", "must be one of auto, json, text; got %q", s.Log.Format)
	}
	validateRedis(v, &s.Redis)
	if s.Database.URL != "" {
		u, err := url.Parse(s.Database.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			v.add("spec.database.url", "must be a postgres:// URL")
		}
	}
	if s.Database.MaxOpenConns < 0 {
		v.add("spec.database.maxOpenConns", "must not be negative, got %d", s.Database.MaxOpenConns)
	}
	v.positive("spec.database.queryTimeout", s.Database.QueryTimeout)
	if n := s.Database.SeedUsers; n != nil {
		v.between("spec.database.seedUsers", int64(*n), 0, 1_000_000)
	}
	if k := s.Security.SecretKey; k != "" && len(k) < 32 {
		v.add("spec.security.secretKey", "must be at least 32 characters, got %d", len(k))
	}
	if k := s.Security.ViewerToken; k != "" && len(k) < 32 {
		v.add("spec.security.viewerToken", "must be at least 32 characters, got %d", len(k))
	} else if k != "" && k == s.Security.AdminToken {
		v.add("spec.security.viewerToken", "must differ from adminToken: a read-only token that is also the admin token grants everything")
	}
	if k := s.Security.AdminToken; k != "" && len(k) < 32 {
		v.add("spec.security.adminToken", "must be at least 32 characters, got %d", len(k))
	}
	validateCache(v, &s.Cache)
	v.positive("spec.sessions.idleTimeout", s.Sessions.IdleTimeout)
	v.positive("spec.sessions.absoluteTimeout", s.Sessions.AbsoluteTimeout)
	if s.Sessions.IdleTimeout.Duration > s.Sessions.AbsoluteTimeout.Duration {
		v.add("spec.sessions.idleTimeout", "must not exceed absoluteTimeout (%s)", s.Sessions.AbsoluteTimeout)
	}
	v.positive("spec.sessions.touchInterval", s.Sessions.TouchInterval)
	if s.Sessions.TouchInterval.Duration >= s.Sessions.IdleTimeout.Duration {
		v.add("spec.sessions.touchInterval", "must be shorter than idleTimeout (%s)", s.Sessions.IdleTimeout)
	}
	v.between("spec.sessions.maxPerUser", int64(s.Sessions.MaxPerUser), 1, 1000)
	v.atLeast("spec.sessions.loginLimits.perUsername", int64(s.Sessions.LoginLimits.PerUsername), 1)
	v.atLeast("spec.sessions.loginLimits.perIP", int64(s.Sessions.LoginLimits.PerIP), 1)
	v.positive("spec.sessions.loginLimits.window", s.Sessions.LoginLimits.Window)
	v.between("spec.sessions.passwordChecks.memoryBudgetMiB", int64(s.Sessions.PasswordChecks.MemoryBudgetMiB), 1, 1<<20)
	v.positive("spec.sessions.passwordChecks.maxWait", s.Sessions.PasswordChecks.MaxWait)
	v.positive("spec.rateLimiter.decisionTimeout", s.RateLimiter.DecisionTimeout)
	v.between("spec.rateLimiter.breakerFailures", int64(s.RateLimiter.BreakerFailures), 1, 1000)
	v.positive("spec.rateLimiter.breakerOpen", s.RateLimiter.BreakerOpen)
	validateRateLimits(v, s.RateLimits)
	validateRealtime(v, &s.Realtime)
	validateQueue(v, &s.Queue)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

func validateServer(v *validator, s *Server) {
	if _, port, err := net.SplitHostPort(s.Address); err != nil {
		v.add("spec.server.address", "must be HOST:PORT or :PORT, got %q", s.Address)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("spec.server.address", "port must be 0-65535, got %q", port)
	}
	v.positive("spec.server.readTimeout", s.ReadTimeout)
	v.positive("spec.server.readHeaderTimeout", s.ReadHeaderTimeout)
	v.positive("spec.server.writeTimeout", s.WriteTimeout)
	v.positive("spec.server.idleTimeout", s.IdleTimeout)
	v.positive("spec.server.shutdownTimeout", s.ShutdownTimeout)
	if s.DrainDelay.Duration < 0 {
		v.add("spec.server.drainDelay", "must not be negative")
	}
	if s.MaxBodyBytes <= 0 {
		v.add("spec.server.maxBodyBytes", "must be greater than 0, got %d", s.MaxBodyBytes)
	}
	for i, p := range s.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			v.add(fmt.Sprintf("spec.server.trustedProxies[%d]", i), "must be an IP or CIDR, got %q", p)
		}
	}
	for i, o := range s.CORS.AllowedOrigins {
		if o == "*" {
			if s.CORS.AllowCredentials {
				v.add(fmt.Sprintf("spec.server.cors.allowedOrigins[%d]", i), `"*" cannot be combined with allowCredentials`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.add(fmt.Sprintf("spec.server.cors.allowedOrigins[%d]", i), "must be an origin like https://app.example.com, got %q", o)
		}
	}
}

func validateRedis(v *validator, r *Redis) {
	if r.URL != "" {
		if _, err := url.Parse(r.URL); err != nil || !(strings.HasPrefix(r.URL, "redis://") || strings.HasPrefix(r.URL, "rediss://") || strings.HasPrefix(r.URL, "unix://")) {
			v.add("spec.redis.url", "must be a redis://, rediss:// or unix:// URL")
		}
		if len(r.Addrs) > 0 {
			v.add("spec.redis.addrs", "cannot be combined with spec.redis.url: use url for one server, addrs for a Cluster or sentinels")
		}
	}
	if r.Port < 0 || r.Port > 65535 {
		v.add("spec.redis.port", "must be 1-65535, got %d", r.Port)
	}
	v.between("spec.redis.db", int64(r.DB), 0, 15)
	for i, a := range r.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			v.add(fmt.Sprintf("spec.redis.addrs[%d]", i), "must be host:port, got %q", a)
		}
	}
	if r.Sentinel.MasterName != "" && len(r.Addrs) == 0 {
		v.add("spec.redis.addrs", "must list the sentinels when sentinel.masterName is set")
	}
	if r.Sentinel.MasterName == "" && len(r.Addrs) > 1 && r.DB != 0 {
		v.add("spec.redis.db", "must be 0 with a Redis Cluster, got %d", r.DB)
	}
	if (r.TLS.CertFile == "") != (r.TLS.KeyFile == "") {
		v.add("spec.redis.tls.keyFile", "certFile and keyFile must be set together")
	}
	if r.PoolSize < 0 {
		v.add("spec.redis.poolSize", "must not be negative")
	}
	if r.MinIdleConns < 0 {
		v.add("spec.redis.minIdleConns", "must not be negative")
	}
	v.positive("spec.redis.dialTimeout", r.DialTimeout)
	v.positive("spec.redis.readTimeout", r.ReadTimeout)
	v.positive("spec.redis.writeTimeout", r.WriteTimeout)
	v.positive("spec.redis.poolTimeout", r.PoolTimeout)
	v.positive("spec.redis.commandTimeout", r.CommandTimeout)
	v.positive("spec.redis.infoCacheTTL", r.InfoCacheTTL)
	if strings.ContainsAny(r.KeyPrefix, "{} *?[]") {
		v.add("spec.redis.keyPrefix", "must not contain spaces, glob characters or braces (hash tags belong to Redlane), got %q", r.KeyPrefix)
	}
}

// policyName: rate-limit policy names go into RateLimit headers (as
// structured-field strings) and Redis keys.
var policyName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

const maxRateLimit = 1_000_000_000

func validateRateLimits(v *validator, ps []RateLimitPolicy) {
	seen := map[string]bool{}
	for i, p := range ps {
		path := fmt.Sprintf("spec.rateLimits[%d]", i)
		switch {
		case p.Name == "":
			v.add(path+".name", "must not be empty")
		case seen[p.Name]:
			v.add(path+".name", "duplicate policy name %q", p.Name)
		case !policyName.MatchString(p.Name):
			v.add(path+".name", "must be 1-64 of A-Z a-z 0-9 _ . - (it appears in headers and Redis keys), got %q", p.Name)
		}
		seen[p.Name] = true
		if p.Match.PathPrefix != "" && !strings.HasPrefix(p.Match.PathPrefix, "/") {
			v.add(path+".match.pathPrefix", "must start with /, got %q", p.Match.PathPrefix)
		}
		if p.Match.Route != "" && !strings.HasPrefix(p.Match.Route, "/") {
			v.add(path+".match.route", "must start with /, got %q", p.Match.Route)
		}
		for j, m := range p.Match.Methods {
			switch m {
			case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
			default:
				v.add(fmt.Sprintf("%s.match.methods[%d]", path, j), "must be an upper-case HTTP method, got %q", m)
			}
		}
		switch {
		case p.Key == "ip", p.Key == "user":
		case strings.HasPrefix(p.Key, "header:") && len(p.Key) > len("header:"):
		default:
			v.add(path+".key", `must be "ip", "user" or "header:<Name>", got %q`, p.Key)
		}
		v.between(path+".limit", int64(p.Limit), 1, maxRateLimit)
		if p.Period.Duration < time.Millisecond || p.Period.Duration > 366*24*time.Hour {
			v.add(path+".period", "must be between 1ms and 366 days, got %s", p.Period)
		} else if p.Limit > 0 && p.Period.Duration/time.Duration(p.Limit) < time.Microsecond {
			v.add(path+".limit", "more than one request per microsecond cannot be limited (period/limit < 1µs)")
		}
		v.between(path+".burst", int64(p.Burst), 0, maxRateLimit)
	}
}

func validateRealtime(v *validator, rt *Realtime) {
	const p = "spec.realtime."
	for i, o := range rt.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.add(fmt.Sprintf("%sallowedOrigins[%d]", p, i), "must be an origin like https://app.example.com, got %q", o)
		}
	}
	v.atLeast(p+"maxConnections", int64(rt.MaxConnections), 1)
	v.atLeast(p+"maxRoomsPerConnection", int64(rt.MaxRoomsPerConnection), 1)
	v.atLeast(p+"maxMessageBytes", int64(rt.MaxMessageBytes), 1)
	v.atLeast(p+"maxFrameBytes", rt.MaxFrameBytes, 512)
	v.atLeast(p+"sendQueueSize", int64(rt.SendQueueSize), 1)
	v.atLeast(p+"historySize", int64(rt.HistorySize), 1)
	v.atLeast(p+"historyPageMax", int64(rt.HistoryPageMax), 1)
	if rt.MaxFrameBytes < int64(rt.MaxMessageBytes)+256 {
		v.add(p+"maxFrameBytes", "must leave room for a frame around maxMessageBytes (at least %d), got %d", rt.MaxMessageBytes+256, rt.MaxFrameBytes)
	}
	v.positive(p+"pingInterval", rt.PingInterval)
	v.positive(p+"pongTimeout", rt.PongTimeout)
	v.positive(p+"writeTimeout", rt.WriteTimeout)
	v.positive(p+"idempotencyTTL", rt.IdempotencyTTL)
	v.atLeastDur(p+"historyRetention", rt.HistoryRetention, time.Second)
	v.atLeastDur(p+"presenceTTL", rt.PresenceTTL, 300*time.Millisecond)
	for _, r := range []struct {
		name string
		PublishRate
	}{{"perConnection", rt.PublishRate.PerConnection}, {"perSender", rt.PublishRate.PerSender}} {
		name := r.name
		v.atLeast(p+"publishRate."+name+".limit", int64(r.Limit), 1)
		v.positive(p+"publishRate."+name+".period", r.Period)
		v.atLeast(p+"publishRate."+name+".burst", int64(r.Burst), 0)
	}
	v.atLeast(p+"publishRate.closeAfter", int64(rt.PublishRate.CloseAfter), 1)
	ids := map[string]bool{}
	for i, k := range rt.RoomTokens.Keys {
		path := fmt.Sprintf("%sroomTokens.keys[%d]", p, i)
		if k.ID == "" || ids[k.ID] {
			v.add(path+".id", "must be set and unique, got %q", k.ID)
		}
		ids[k.ID] = true
		if len(k.Secret) < 32 {
			v.add(path+".secret", "must be at least 32 characters, got %d", len(k.Secret))
		}
	}
	for i, rp := range rt.RoomPolicies {
		path := fmt.Sprintf("%sroomPolicies[%d]", p, i)
		if len(rp.Subscribe) == 0 {
			v.add(path+".subscribe", "must list who may subscribe (anyone, authenticated, nobody, user:<name>, role:<role>, {placeholder})")
		}
		if len(rt.RoomTokens.Keys) == 0 {
			for a, list := range rp.Rule().Who {
				for j, w := range list {
					if w == access.Token {
						v.add(fmt.Sprintf("%s.%s[%d]", path, access.Names[a], j), "token admits nobody without spec.realtime.roomTokens.keys")
					}
				}
			}
		}
		bad := access.Check(rp.Rule())
		for _, f := range slices.Sorted(maps.Keys(bad)) {
			v.add(path+"."+f, "%s", bad[f])
		}
	}
}

func validateCache(v *validator, c *Cache) {
	v.positive("spec.cache.defaultTTL", c.DefaultTTL)
	for ns, d := range c.TTLs {
		if ns == "" || strings.ContainsAny(ns, ":{}*?[] .") {
			v.add("spec.cache.ttls", "namespace %q must be a plain name such as user", ns)
		}
		v.positive("spec.cache.ttls."+ns, d)
	}
	v.between("spec.cache.jitterPercent", int64(c.JitterPercent), 0, 50)
	if c.StaleTTL.Duration < 0 {
		v.add("spec.cache.staleTTL", "must not be negative")
	}
	v.positive("spec.cache.negativeTTL", c.NegativeTTL)
	if c.XFetchBeta < 0 || c.XFetchBeta > 10 {
		v.add("spec.cache.xfetchBeta", "must be 0-10, got %g", c.XFetchBeta)
	}
	v.atLeastDur("spec.cache.leaseTTL", c.LeaseTTL, 100*time.Millisecond)
	v.atLeastDur("spec.cache.redisTimeout", c.RedisTimeout, time.Millisecond)
	v.atLeast("spec.cache.breakerFailures", int64(c.BreakerFailures), 1)
	v.positive("spec.cache.breakerOpenFor", c.BreakerOpenFor)
	v.between("spec.cache.maxBatchIDs", int64(c.MaxBatchIDs), 1, 1000)
	for i, p := range c.ClearablePrefixes {
		if p == "" || strings.ContainsAny(p, "*?[]{}\\ ") || !strings.HasSuffix(p, ":") {
			v.add(fmt.Sprintf("spec.cache.clearablePrefixes[%d]", i), "must be a literal prefix ending in ':' such as user:, got %q", p)
		}
	}
	v.atLeastDur("spec.cache.statsFlushInterval", c.StatsFlushInterval, 100*time.Millisecond)
	v.between("spec.cache.near.size", int64(c.Near.Size), 1, 10_000_000)
	v.positive("spec.cache.near.ttl", c.Near.TTL)
	for name, r := range c.Responses {
		if name == "" || strings.ContainsAny(name, ":{}*?[] /.") {
			v.add("spec.cache.responses", "group %q must be a plain name such as users-list", name)
		}
		if r.TTL.Duration < 0 {
			v.add("spec.cache.responses."+name+".ttl", "must not be negative (0 turns caching off)")
		}
	}
}
