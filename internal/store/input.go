package store

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Roles a user can have.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// NewUser is the input of Create (POST /users).
type NewUser struct {
	Username    string `json:"username"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	Password    string `json:"password"`
	Role        string `json:"role"`
}

// Valid implements web.Validator.
func (n NewUser) Valid() map[string]string {
	bad := map[string]string{}
	checkUsername(bad, n.Username)
	checkEmail(bad, n.Email)
	checkDisplayName(bad, n.DisplayName)
	checkPassword(bad, n.Password)
	checkRole(bad, n.Role, true)
	return bad
}

// Replacement is the input of Update (PUT /users/{id}): the whole user.
// Password is optional: absent keeps the current one.
type Replacement struct {
	Username    string  `json:"username"`
	Email       string  `json:"email"`
	DisplayName string  `json:"display_name"`
	Role        string  `json:"role"`
	Password    *string `json:"password"`
}

// Valid implements web.Validator.
func (r Replacement) Valid() map[string]string {
	bad := map[string]string{}
	checkUsername(bad, r.Username)
	checkEmail(bad, r.Email)
	checkDisplayName(bad, r.DisplayName)
	checkRole(bad, r.Role, true)
	if r.Password != nil {
		checkPassword(bad, *r.Password)
	}
	return bad
}

// Patch is the input of Patch (PATCH /users/{id}): only the fields present change.
type Patch struct {
	Username    *string `json:"username"`
	Email       *string `json:"email"`
	DisplayName *string `json:"display_name"`
	Role        *string `json:"role"`
	Password    *string `json:"password"`
}

// Valid implements web.Validator.
func (p Patch) Valid() map[string]string {
	bad := map[string]string{}
	if p.Username == nil && p.Email == nil && p.DisplayName == nil && p.Role == nil && p.Password == nil {
		bad["body"] = "must set at least one of username, email, display_name, role, password"
	}
	if p.Username != nil {
		checkUsername(bad, *p.Username)
	}
	if p.Email != nil {
		checkEmail(bad, *p.Email)
	}
	if p.DisplayName != nil {
		checkDisplayName(bad, *p.DisplayName)
	}
	if p.Role != nil {
		checkRole(bad, *p.Role, false)
	}
	if p.Password != nil {
		checkPassword(bad, *p.Password)
	}
	return bad
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{2,31}$`)

// NormalizeUsername is how usernames are stored and looked up: trimmed and lower case.
func NormalizeUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

func checkUsername(bad map[string]string, u string) {
	if !usernameRE.MatchString(NormalizeUsername(u)) {
		bad["username"] = "must be 3-32 characters: letters, digits, '_', '.', '-', starting with a letter or digit"
	}
}

func checkEmail(bad map[string]string, e string) {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 {
		bad["email"] = "must be a plain email address such as ann@example.com"
	}
}

func checkDisplayName(bad map[string]string, d string) {
	switch {
	case !utf8.ValidString(d) || utf8.RuneCountInString(d) > 100:
		bad["display_name"] = "must be at most 100 characters of valid UTF-8"
	case strings.IndexFunc(d, spoofing) >= 0:
		bad["display_name"] = "must not contain control characters (such as BEL or a line break) or bidirectional formatting characters (such as U+202E)"
	}
}

// spoofing reports the characters a display name must not hold: control
// characters, line and paragraph separators, and the bidirectional
// formatting characters, which make a name render as another one (U+202E
// "evil\u202Eexe" shows as "evilexe" reversed) or break the lines of a
// page or a log. Other format characters (the zero-width joiner of emoji
// sequences) are fine.
func spoofing(r rune) bool {
	switch {
	case unicode.IsControl(r), r == '\u2028', r == '\u2029':
		return true
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069',
		r == '\u200E', r == '\u200F', r == '\u061C':
		return true
	}
	return false
}

func checkPassword(bad map[string]string, p string) {
	if n := utf8.RuneCountInString(p); n < 8 || len(p) > 256 {
		bad["password"] = "must be at least 8 characters and at most 256 bytes"
	}
}

func checkRole(bad map[string]string, r string, emptyOK bool) {
	if (r == "" && emptyOK) || r == RoleUser || r == RoleAdmin {
		return
	}
	bad["role"] = `must be "user" or "admin"`
}
