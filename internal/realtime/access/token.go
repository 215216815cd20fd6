package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
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
// and grants room to user ("" for anonymous).
func VerifyToken(tok string, keys []Key, room, user string, now time.Time) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ErrTokenMalformed
	}
	var head struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodePart(parts[0], &head); err != nil {
		return err
	}
	var key []byte
	for _, k := range keys {
		if k.ID == head.Kid {
			key = k.Secret
		}
	}
	if head.Alg != "HS256" || key == nil {
		return ErrTokenKey
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return ErrTokenMalformed
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return ErrTokenSignature
	}
	var claims struct {
		Room string `json:"room"`
		Sub  string `json:"sub"`
		Exp  int64  `json:"exp"`
	}
	if err := decodePart(parts[1], &claims); err != nil {
		return err
	}
	if claims.Exp == 0 || now.Unix() >= claims.Exp {
		return ErrTokenExpired
	}
	if claims.Room != room || claims.Sub != user {
		return ErrTokenScope
	}
	return nil
}

// SignToken makes a room token: what an application's backend does (with
// any JWT library), here for tests and tools.
func SignToken(k Key, room, user string, exp time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "HS256", "typ": "JWT", "kid": k.ID}) + "." +
		enc(map[string]any{"room": room, "sub": user, "exp": exp.Unix()})
	mac := hmac.New(sha256.New, k.Secret)
	mac.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, v) != nil {
		return ErrTokenMalformed
	}
	return nil
}
