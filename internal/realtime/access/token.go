package access

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Room tokens let an application whose own backend knows a room's members
// (a team's, a game's) admit a user to one room without Redlane knowing why,
// like Centrifugo's subscription tokens: a JWT signed with HS256 by the
// application, with claims room (the room's name), sub (the user's name, ""
// for an anonymous caller) and exp (unix seconds). The header's kid names
// the key, so keys rotate: add the new key, sign with it, remove the old one
// once its tokens have expired. A policy admits token holders with the who
// entry "token".

// Token is the who entry that admits callers with a valid room token.
const Token = "token"

// Key is one HMAC key that may sign room tokens.
type Key struct {
	ID     string
	Secret []byte
}

// Errors a token check reports; none says more than "not valid" to a caller.
var (
	ErrTokenMalformed = errors.New("room token is malformed")
	ErrTokenKey       = errors.New("room token is signed with an unknown key or algorithm")
	ErrTokenSignature = errors.New("room token signature does not match")
	ErrTokenExpired   = errors.New("room token has expired")
	ErrTokenScope     = errors.New("room token is for another room or user")
)

// VerifyToken checks that tok is signed by one of keys, unexpired at now,
// and grants room to user ("" for anonymous). Parsing, the HS256 signature
// and exp (required) are checked with github.com/golang-jwt/jwt/v5; its
// errors are mapped onto the Err values above.
func VerifyToken(tok string, keys []Key, room, user string, now time.Time) error {
	var claims roomClaims
	t, err := jwt.ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if k.ID == kid && k.Secret != nil {
				return k.Secret, nil
			}
		}
		return nil, ErrTokenKey
	},
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrTokenMalformed
	case errors.Is(err, ErrTokenKey):
		return ErrTokenKey
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t == nil || t.Method == nil || t.Method.Alg() != "HS256" {
			return ErrTokenKey // an algorithm other than HS256
		}
		return ErrTokenSignature
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrTokenExpired
	default:
		return ErrTokenMalformed
	}
	if claims.Room != room || claims.Subject != user {
		return ErrTokenScope
	}
	return nil
}

// SignToken makes a room token with github.com/golang-jwt/jwt/v5: what an
// application's backend does (with any JWT library), here for tests and tools.
func SignToken(k Key, room, user string, exp time.Time) string {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, roomClaims{
		Room:             room,
		RegisteredClaims: jwt.RegisteredClaims{Subject: user, ExpiresAt: jwt.NewNumericDate(exp)},
	})
	t.Header["kid"] = k.ID
	s, _ := t.SignedString(k.Secret)
	return s
}

// roomClaims are a room token's claims: room, sub and exp.
type roomClaims struct {
	Room string `json:"room"`
	jwt.RegisteredClaims
}
