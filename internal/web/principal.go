package web

import "context"

// Principal is the authenticated caller of a request, set by the sessions
// middleware and read by any package that needs to know who is calling
// (chat sender, rate-limit key, admin checks).
type Principal struct {
	UserID    int64
	Username  string
	Role      string // "user" or "admin"
	SessionID string // public session id, never the token
}

// IsAdmin reports whether the principal has the admin role.
func (p *Principal) IsAdmin() bool { return p != nil && p.Role == "admin" }

type principalKey struct{}

// WithPrincipal stores the authenticated caller in ctx.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller, or nil for anonymous requests.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
