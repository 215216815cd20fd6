// Package access decides who may subscribe to a chat room, publish in it,
// and read its history and presence, from the room policies of
// spec.realtime.roomPolicies: a room-name pattern and, per action, the
// callers it admits. It is separate from realtime so that config can check
// policies with the same compiler the hub uses.
package access

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Action is what a caller wants to do in a room.
type Action int

// The actions a policy governs, in the order of Rule.Who.
const (
	Subscribe Action = iota // WS join, SSE stream
	Publish                 // POST /chat/message, a socket's message frames
	History                 // GET /chat/history
	Presence                // GET /chat/presence, and a room's line in GET /chat/rooms
	numActions
)

// Names are the actions' names, as config fields and in answers.
var Names = [numActions]string{"subscribe", "publish", "history", "presence"}

func (a Action) String() string { return Names[a] }

// Caller is who asks: nil, or an empty Username, is anonymous.
type Caller struct {
	Username string
	Role     string
	// Token reports a valid room token for the room asked about (VerifyToken).
	Token bool
}

// Pattern is a compiled room-name pattern. Literal characters match
// themselves; * matches any run of characters (none too); {name} matches
// one part of the name, 1 or more characters other than ':' and ',', and
// names it for the policy's who lists (dm:{a},{b}: {a} is a user's name).
type Pattern struct {
	re    *regexp.Regexp
	names []string
}

// literal is what a pattern may hold besides * and {name}: the characters
// of room names.
var literal = regexp.MustCompile(`^[A-Za-z0-9_.:,-]*$`)

var placeholder = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,31}$`)

// CompilePattern compiles a room-name pattern, or says what is wrong.
func CompilePattern(s string) (*Pattern, error) {
	if s == "" {
		return nil, fmt.Errorf("must not be empty")
	}
	var re strings.Builder
	re.WriteString("^")
	p := &Pattern{}
	for rest := s; rest != ""; {
		i := strings.IndexAny(rest, "*{}")
		if i < 0 {
			i = len(rest)
		}
		if !literal.MatchString(rest[:i]) {
			return nil, fmt.Errorf("%q: only letters, digits, '_', '.', '-', ':', ',', * and {name} may appear", s)
		}
		re.WriteString(regexp.QuoteMeta(rest[:i]))
		rest = rest[i:]
		switch {
		case rest == "":
		case rest[0] == '*':
			re.WriteString(".*")
			rest = rest[1:]
		case rest[0] == '}':
			return nil, fmt.Errorf("%q: '}' without '{'", s)
		default:
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("%q: '{' without '}'", s)
			}
			name := rest[1:end]
			if !placeholder.MatchString(name) {
				return nil, fmt.Errorf("%q: {%s}: a placeholder is a name of letters, digits and '_', starting with a letter", s, name)
			}
			if slices.Contains(p.names, name) {
				return nil, fmt.Errorf("%q: {%s} appears twice", s, name)
			}
			p.names = append(p.names, name)
			re.WriteString("([^:,]+)")
			rest = rest[end+1:]
		}
	}
	re.WriteString("$")
	p.re = regexp.MustCompile(re.String())
	return p, nil
}

// match reports whether room fits, with the placeholders' values in the
// order of p.names.
func (p *Pattern) match(room string) ([]string, bool) {
	m := p.re.FindStringSubmatch(room)
	if m == nil {
		return nil, false
	}
	return m[1:], true
}

// who is one entry of a who list.
type who struct {
	kind  string // anyone, authenticated, nobody, user, role, placeholder
	value string // the user, role, or the placeholder's index
	index int
}

// The words of a who list.
const (
	Anyone        = "anyone"        // everyone, anonymous callers too
	Authenticated = "authenticated" // any caller with a session
	Nobody        = "nobody"        // no caller (a read-only room, say)
)

// parseWho reads one entry: anyone, authenticated, nobody, token (a valid
// room token), user:<name>, role:<role>, or {name} (the user the room's
// name names there).
func parseWho(s string, names []string) (who, error) {
	switch s {
	case Anyone, Authenticated, Nobody, Token:
		return who{kind: s}, nil
	}
	if v, ok := strings.CutPrefix(s, "user:"); ok && v != "" {
		return who{kind: "user", value: v}, nil
	}
	if v, ok := strings.CutPrefix(s, "role:"); ok && v != "" {
		return who{kind: "role", value: v}, nil
	}
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		name := s[1 : len(s)-1]
		i := slices.Index(names, name)
		if i < 0 {
			return who{}, fmt.Errorf("%q: the pattern has no {%s}", s, name)
		}
		return who{kind: "placeholder", index: i}, nil
	}
	return who{}, fmt.Errorf("%q: must be anyone, authenticated, nobody, token, user:<name>, role:<role> or {placeholder}", s)
}

// admits reports whether w lets c in, given the room's placeholder values.
func (w who) admits(c *Caller, values []string) bool {
	switch w.kind {
	case Anyone:
		return true
	case Authenticated:
		return c != nil && c.Username != ""
	case Token:
		return c != nil && c.Token
	case "user":
		return c != nil && c.Username != "" && c.Username == w.value
	case "role":
		return c != nil && c.Username != "" && c.Role == w.value
	case "placeholder":
		return c != nil && c.Username != "" && c.Username == values[w.index]
	}
	return false // nobody
}

// Rule is one policy as configured: a pattern and, per action, who may.
type Rule struct {
	Match string
	Who   [numActions][]string
}

// Check reports every problem of a rule: the pattern's, then each who
// entry's, keyed by "match" or "<action>[i]".
func Check(r Rule) map[string]string {
	bad := map[string]string{}
	p, err := CompilePattern(r.Match)
	if err != nil {
		bad["match"] = err.Error()
		return bad
	}
	for a, list := range r.Who {
		for i, s := range list {
			if _, err := parseWho(s, p.names); err != nil {
				bad[fmt.Sprintf("%s[%d]", Names[a], i)] = err.Error()
			}
		}
	}
	return bad
}

// policy is a compiled Rule.
type policy struct {
	pattern *Pattern
	who     [numActions][]who
}

// Policies are compiled rules; the first whose pattern fits a room decides,
// and a room no pattern fits is open to anyone, as without policies.
type Policies struct {
	list  []policy
	roles bool // some entry is role:<role>
}

// UsesRoles reports whether any entry admits by role, so callers know
// whether a caller's role must be looked up.
func (ps *Policies) UsesRoles() bool { return ps != nil && ps.roles }

// Compile compiles rules that Check found sound; an error names the first
// rule that is not.
func Compile(rules []Rule) (*Policies, error) {
	ps := &Policies{}
	for i, r := range rules {
		p, err := CompilePattern(r.Match)
		if err != nil {
			return nil, fmt.Errorf("room policy %d: %w", i, err)
		}
		pol := policy{pattern: p}
		for a, list := range r.Who {
			for _, s := range list {
				w, err := parseWho(s, p.names)
				if err != nil {
					return nil, fmt.Errorf("room policy %d: %s: %w", i, Names[a], err)
				}
				pol.who[a] = append(pol.who[a], w)
				ps.roles = ps.roles || w.kind == "role"
			}
		}
		ps.list = append(ps.list, pol)
	}
	return ps, nil
}

// Allows reports whether c may take action a in room.
func (ps *Policies) Allows(c *Caller, room string, a Action) bool {
	if ps == nil {
		return true
	}
	for _, p := range ps.list {
		values, ok := p.pattern.match(room)
		if !ok {
			continue
		}
		for _, w := range p.who[a] {
			if w.admits(c, values) {
				return true
			}
		}
		return false
	}
	return true
}
