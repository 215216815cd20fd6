package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Token format: "rls_" + user tag (10 base32 chars) + "_" + 43 base64url
// characters of crypto/rand (256 bits). The tag routes every session of one
// user to one Redis Cluster slot, so per-user operations are single-slot Lua;
// it is derived from the user id and says nothing a token holder does not
// already know. The prefix makes leaked tokens easy to spot in logs and by
// secret scanners.
const (
	tokenPrefix  = "rls_"
	tagLen       = 10
	secretLen    = 43
	tokenLen     = len(tokenPrefix) + tagLen + 1 + secretLen
	maxHeaderLen = 512 // longer Authorization values are refused unread
)

// ErrMalformedToken means the value is not a Redlane session token at all.
var ErrMalformedToken = errors.New("malformed session token")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// userTag is the hash tag shared by every key of one user's sessions.
func userTag(uid int64) string {
	h := sha256.Sum256([]byte("redlane-session-user:" + strconv.FormatInt(uid, 10)))
	return strings.ToLower(b32.EncodeToString(h[:])[:tagLen])
}

// newToken returns a fresh token for uid (a new one on every login, so a
// session can never be fixed in advance) and what parseToken would make of it.
func newToken(uid int64) (string, parsedToken, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", parsedToken{}, err
	}
	tag := userTag(uid)
	tok := tokenPrefix + tag + "_" + base64.RawURLEncoding.EncodeToString(b[:])
	return tok, parsedToken{tag: tag, sid: sessionID(tok)}, nil
}

// parsedToken is what Redis is asked about: never the token itself.
type parsedToken struct {
	tag string // user tag: the hash tag of the user's keys
	sid string // public session id, derived one-way from the token
}

// parseToken checks the token's shape and derives the session id from its
// SHA-256 hash. Redis stores only that id; a dump of Redis cannot be turned
// back into a token.
func parseToken(tok string) (parsedToken, error) {
	if len(tok) != tokenLen || !strings.HasPrefix(tok, tokenPrefix) || tok[len(tokenPrefix)+tagLen] != '_' {
		return parsedToken{}, ErrMalformedToken
	}
	tag := tok[len(tokenPrefix) : len(tokenPrefix)+tagLen]
	for _, c := range tag {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return parsedToken{}, ErrMalformedToken
		}
	}
	if _, err := base64.RawURLEncoding.DecodeString(tok[len(tokenPrefix)+tagLen+1:]); err != nil {
		return parsedToken{}, ErrMalformedToken
	}
	return parsedToken{tag: tag, sid: sessionID(tok)}, nil
}

// sessionID is the public id of the session a token opens: shown in
// listings and used to revoke, but useless as a credential.
func sessionID(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:12])
}

// validSessionID checks a session id from a URL path.
func validSessionID(s string) bool {
	if len(s) != 24 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
