package config

import (
	"slices"
	"time"
)

// Default returns a complete document with every default applied.
func Default() *Config {
	c := &Config{}
	SetDefaults(c)
	return c
}

// SetDefaults fills every zero field that has a default. It is the one place
// defaults live; validation runs after it.
func SetDefaults(c *Config) {
	if c.APIVersion == "" {
		c.APIVersion = APIVersion
	}
	if c.Kind == "" {
		c.Kind = Kind
	}
	s := &c.Spec

	setStr(&s.Server.Address, ":8000")
	setDur(&s.Server.ReadTimeout, 30*time.Second)
	setDur(&s.Server.ReadHeaderTimeout, 10*time.Second)
	setDur(&s.Server.WriteTimeout, 30*time.Second)
	setDur(&s.Server.IdleTimeout, 120*time.Second)
	setDur(&s.Server.ShutdownTimeout, 25*time.Second)
	setNum(&s.Server.MaxBodyBytes, 1<<20)
	if s.Server.CORS.AllowedHeaders == nil {
		s.Server.CORS.AllowedHeaders = []string{"Authorization", "Content-Type", "If-None-Match", "X-Request-ID"}
	}
	setDur(&s.Server.CORS.MaxAge, 10*time.Minute)

	if s.Log.Level == "" {
		s.Log.Level = "info"
		if s.Debug {
			s.Log.Level = "debug"
		}
	}
	setStr(&s.Log.Format, "auto")

	r := &s.Redis
	if r.Host != "" && r.Port == 0 {
		r.Port = 6379
	}
	setStr(&r.KeyPrefix, "redlane:")
	setDur(&r.DialTimeout, 2*time.Second)
	setDur(&r.ReadTimeout, time.Second)
	setDur(&r.WriteTimeout, time.Second)
	setDur(&r.PoolTimeout, time.Second)
	setDur(&r.CommandTimeout, 2*time.Second)
	setDur(&r.InfoCacheTTL, 5*time.Second)

	setNum(&s.Database.MaxOpenConns, 10)
	setDur(&s.Database.QueryTimeout, 3*time.Second)
	// spec.database.seedUsers stays nil: unset means "demo users only in the
	// all-embedded development mode", which Database.DemoUsers decides once
	// serve knows whether Redis is embedded.

	ca := &s.Cache
	setDur(&ca.DefaultTTL, 5*time.Minute)
	if ca.TTLs == nil {
		ca.TTLs = map[string]Duration{}
	}
	setNum(&ca.JitterPercent, 10)
	setDur(&ca.StaleTTL, 30*time.Second)
	setDur(&ca.NegativeTTL, 30*time.Second)
	setNum(&ca.XFetchBeta, 1)
	setDur(&ca.LeaseTTL, 3*time.Second)
	setDur(&ca.RedisTimeout, time.Second)
	setNum(&ca.BreakerFailures, 5)
	setDur(&ca.BreakerOpenFor, 2*time.Second)
	setNum(&ca.MaxBatchIDs, 100)
	if ca.ClearablePrefixes == nil {
		ca.ClearablePrefixes = []string{"user:", "resp:"}
	}
	setDur(&ca.StatsFlushInterval, 5*time.Second)
	setNum(&ca.Near.Size, 10000)
	setDur(&ca.Near.TTL, 2*time.Second)
	if ca.Responses == nil {
		ca.Responses = map[string]ResponseCache{"users-list": {TTL: D(30 * time.Second)}}
	}
	setDur(&s.Sessions.IdleTimeout, 30*time.Minute)
	setDur(&s.Sessions.AbsoluteTimeout, 24*time.Hour)
	setDur(&s.Sessions.TouchInterval, time.Minute)
	setNum(&s.Sessions.MaxPerUser, 10)
	setNum(&s.Sessions.LoginLimits.PerUsername, 5)
	setNum(&s.Sessions.LoginLimits.PerIP, 50)
	setDur(&s.Sessions.LoginLimits.Window, 15*time.Minute)
	setNum(&s.Sessions.PasswordChecks.MemoryBudgetMiB, 64)
	setDur(&s.Sessions.PasswordChecks.MaxWait, 2*time.Second)

	setDur(&s.RateLimiter.DecisionTimeout, 100*time.Millisecond)
	setNum(&s.RateLimiter.BreakerFailures, 5)
	setDur(&s.RateLimiter.BreakerOpen, 2*time.Second)

	setRealtimeDefaults(&s.Realtime)
	setQueueDefaults(&s.Queue)

	if s.RateLimits == nil {
		s.RateLimits = []RateLimitPolicy{{
			Name:   "api",
			Match:  RateLimitMatch{PathPrefix: "/api/"},
			Key:    "ip",
			Limit:  5,
			Period: D(time.Minute),
		}}
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if p.Duration == 0 {
		p.Duration = v
	}
}

func setRealtimeDefaults(rt *Realtime) {
	setNum(&rt.MaxConnections, 50000)
	setNum(&rt.MaxRoomsPerConnection, 16)
	setNum(&rt.MaxMessageBytes, 4096)
	setNum(&rt.MaxFrameBytes, 16<<10)
	setNum(&rt.SendQueueSize, 256)
	setDur(&rt.PingInterval, 25*time.Second)
	setDur(&rt.PongTimeout, 20*time.Second)
	setDur(&rt.WriteTimeout, 10*time.Second)
	setNum(&rt.HistorySize, 1000)
	setDur(&rt.HistoryRetention, 24*time.Hour)
	setNum(&rt.HistoryPageMax, 200)
	setDur(&rt.IdempotencyTTL, 10*time.Minute)
	setDur(&rt.PresenceTTL, 30*time.Second)
	pr := &rt.PublishRate
	// 20 messages a second per socket and 50 per sender, sustained; twice
	// that at once (a period of 2 s). Burst stays 0 unless set.
	setNum(&pr.PerConnection.Limit, 40)
	setDur(&pr.PerConnection.Period, 2*time.Second)
	setNum(&pr.PerSender.Limit, 100)
	setDur(&pr.PerSender.Period, 2*time.Second)
	setNum(&pr.CloseAfter, 50)
	for i := range rt.RoomPolicies {
		p := &rt.RoomPolicies[i]
		for _, l := range []*[]string{&p.Publish, &p.History, &p.Presence} {
			if len(*l) == 0 {
				*l = slices.Clone(p.Subscribe)
			}
		}
	}
}

// setNum sets a numeric field that is still zero.
func setNum[T int | int64 | float64](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}
