package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/redisx"
	"github.com/redlane/redlane/internal/web"
)

// policy is a spec.rateLimits entry ready for matching.
type policy struct {
	config.RateLimitPolicy
	rate   Rate
	header string // canonical header name for key "header:<Name>"
	// policyHeader is the RateLimit-Policy value, built once.
	policyHeader string
}

// policies is the compiled spec.rateLimits of one config generation.
type policies struct {
	cfg     *config.Config
	list    []policy
	trusted []netip.Prefix
}

// Policies follows the config store: it recompiles when the effective
// config changes (a pointer comparison per request), so edits to
// spec.rateLimits apply without a restart.
type Policies struct {
	store *config.Store
	cur   atomic.Pointer[policies]
}

// NewPolicies compiles the store's current policies.
func NewPolicies(store *config.Store) *Policies {
	p := &Policies{store: store}
	p.current()
	return p
}

func (p *Policies) current() *policies {
	cfg := p.store.Current()
	if c := p.cur.Load(); c != nil && c.cfg == cfg {
		return c
	}
	c := compile(cfg)
	p.cur.Store(c)
	return c
}

func compile(cfg *config.Config) *policies {
	c := &policies{cfg: cfg, trusted: web.ParsePrefixes(cfg.Spec.Server.TrustedProxies)}
	for _, rp := range cfg.Spec.RateLimits {
		p := policy{RateLimitPolicy: rp, rate: Rate{Limit: rp.Limit, Period: rp.Period.Duration, Burst: rp.Burst}}
		if h, ok := strings.CutPrefix(rp.Key, "header:"); ok {
			p.header = http.CanonicalHeaderKey(h)
		}
		p.policyHeader = PolicyHeader(rp.Name, p.rate)
		c.list = append(c.list, p)
	}
	return c
}

// match returns the first policy that fits the request (route is the mux
// template, "" when unknown), or nil.
func (c *policies) match(r *http.Request, route string) *policy {
	for i := range c.list {
		p := &c.list[i]
		m := p.Match
		if m.PathPrefix != "" && !strings.HasPrefix(r.URL.Path, m.PathPrefix) {
			continue
		}
		if m.Route != "" && m.Route != route {
			continue
		}
		if len(m.Methods) > 0 && !slices.Contains(m.Methods, r.Method) {
			continue
		}
		return p
	}
	return nil
}

// subject names who the request is counted against under p: the client IP,
// the signed-in user (falling back to the IP when anonymous), or a header's
// value (hashed: API keys are secrets and never stored in clear; falling
// back to the IP when the header is absent).
func (c *policies) subject(r *http.Request, p *policy) string {
	switch {
	case p.Key == "user":
		if pr := web.PrincipalFrom(r.Context()); pr != nil {
			return "user:" + strconv.FormatInt(pr.UserID, 10)
		}
	case p.header != "":
		if v := r.Header.Get(p.header); v != "" {
			sum := sha256.Sum256([]byte(v))
			return "key:" + hex.EncodeToString(sum[:16])
		}
	}
	return "ip:" + web.ClientIP(r, c.trusted)
}

// Key is the Redis key holding the GCRA state of subject under policy:
//
//	<prefix>ratelimit:{<policy>:<subject>}  STRING, the TAT in µs of Redis
//	time; PX = until the subject's capacity is full again (then the key is
//	useless, and gone). Written only by gcraScript. One key per decision,
//	so Cluster-safe; the braces keep any future companion key in its slot.
func Key(rc *redisx.Client, policy, subject string) string {
	return rc.Key("ratelimit", "{"+policy+":"+subject+"}")
}
