package realtime

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/ratelimit"
	"github.com/redlane/redlane/internal/web"
)

// Publish rates (spec.realtime.publishRate, read on every message, so they
// reload live). Without them one socket published 1,000 frames in a burst,
// each fanned out to every member. Two limits apply to every message:
//
//   - per connection: a token bucket in the socket itself, so a burst costs
//     nothing beyond the frames' parsing;
//   - per sender: GCRA on Redis (the ratelimit package's limiter, key
//     ratelimit:{chat-publish:<subject>}), shared by a sender's sockets, its
//     HTTP publishes and every instance; the subject is the user, or the
//     client IP for anonymous senders (whose socket sender names are random).

// senderLimit names the per-sender limit in RateLimit headers and keys.
const senderLimit = "chat-publish"

// bucket is a socket's own token bucket. Only the socket's reader uses it
// (frames are handled one at a time), so it needs no lock.
type bucket struct {
	tokens  float64
	last    time.Time
	refused int // messages refused in a row, for closeAfter
}

// take spends a token if there is one, refilling limit per period up to
// limit+burst; otherwise it says how long until the next token.
func (b *bucket) take(r config.PublishRate, now time.Time) (bool, time.Duration) {
	capacity := float64(r.Limit + r.Burst)
	perToken := float64(r.Period.Duration) / float64(r.Limit)
	if b.last.IsZero() {
		b.tokens = capacity
	} else {
		b.tokens = min(capacity, b.tokens+float64(now.Sub(b.last))/perToken)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * perToken)
}

func senderRate(r config.PublishRate) ratelimit.Rate {
	return ratelimit.Rate{Limit: r.Limit, Period: r.Period.Duration, Burst: r.Burst}
}

// senderSubject is who a per-sender limit counts: the user, or the client
// IP when anonymous.
func senderSubject(p *web.Principal, ip string) string {
	if p != nil {
		return "user:" + p.Username
	}
	return "ip:" + ip
}

// allowSender spends one message of subject's rate. decided is false when
// Redis could not decide in time: the message then goes on, since the
// publish needs Redis too and fails by itself when Redis is down.
func (h *Hub) allowSender(ctx context.Context, subject string, r config.PublishRate) (d ratelimit.Decision, decided bool) {
	if h.limiter == nil {
		return ratelimit.Decision{Allowed: true}, false
	}
	d, err := h.limiter.Allow(ctx, ratelimit.Key(h.rc, senderLimit, subject), senderRate(r))
	if err != nil {
		h.log.Debug("realtime: publish rate undecided, letting the message through", "error", err.Error())
		return d, false
	}
	return d, true
}

// admitSocketMessage applies both limits to a message frame. A refused
// message gets an error frame (code rate-limited, with retryAfterMs); a
// socket refused closeAfter times in a row is closed with 1008.
func (h *Hub) admitSocketMessage(ctx context.Context, c *Conn, room, ref string) bool {
	pr := h.cfg.Current().Spec.Realtime.PublishRate
	scope, limit, wait := "", config.PublishRate{}, time.Duration(0)
	if ok, w := c.bucket.take(pr.PerConnection, time.Now()); !ok {
		scope, limit, wait = "connection", pr.PerConnection, w
	} else if d, decided := h.allowSender(ctx, c.subject, pr.PerSender); decided && !d.Allowed {
		scope, limit, wait = "sender", pr.PerSender, d.Refill
	}
	if scope == "" {
		c.bucket.refused = 0
		return true
	}
	h.metrics.publishLimited.WithLabelValues(scope, "ws").Inc()
	c.bucket.refused++
	c.send(errorFrame{Type: "error", Code: "rate-limited", Room: room, Ref: ref, RetryAfterMs: max(wait.Milliseconds(), 1),
		Detail: fmt.Sprintf("publishing faster than the %s limit (%d per %s, burst %d); retry later", scope, limit.Limit, limit.Period, limit.Burst)})
	if c.bucket.refused >= pr.CloseAfter {
		h.metrics.publishLimitCloses.Inc()
		c.closeWith(websocket.ClosePolicyViolation, "publish rate exceeded")
	}
	return false
}

// admitHTTPMessage applies the per-sender limit to POST /chat/message: the
// RateLimit headers on every decided answer, 429 with Retry-After when
// refused.
func (h *Hub) admitHTTPMessage(w http.ResponseWriter, r *http.Request, p *web.Principal) error {
	rt := h.cfg.Current().Spec
	pr := rt.Realtime.PublishRate.PerSender
	subject := senderSubject(p, web.ClientIP(r, web.ParsePrefixes(rt.Server.TrustedProxies)))
	d, decided := h.allowSender(r.Context(), subject, pr)
	if !decided {
		return nil
	}
	wait := ratelimit.SetHeaders(w.Header(), senderLimit, senderRate(pr), d)
	if d.Allowed {
		return nil
	}
	h.metrics.publishLimited.WithLabelValues("sender", "http").Inc()
	return &web.Error{Status: http.StatusTooManyRequests, Slug: "publish-rate-limited", RetryAfter: wait,
		Detail: fmt.Sprintf("Publishing faster than the per-sender limit (%d per %s, burst %d); retry after %s.", pr.Limit, pr.Period, pr.Burst, wait)}
}
