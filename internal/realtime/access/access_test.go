package access

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		room    string
		match   bool
		values  []string
	}{
		{"public:*", "public:lobby", true, nil},
		{"public:*", "public:", true, nil},
		{"public:*", "publicity", false, nil},
		{"public:*", "x:public:a", false, nil},
		{"team:{id}:*", "team:7:general", true, []string{"7"}},
		{"team:{id}:*", "team::general", false, nil},
		{"team:{id}:*", "team:7", false, nil},
		{"dm:{a},{b}", "dm:alice,bob", true, []string{"alice", "bob"}},
		{"dm:{a},{b}", "dm:alice,bob,carol", false, nil},
		{"dm:{a},{b}", "dm:alice", false, nil},
		{"room.1", "room.1", true, nil},
		{"room.1", "roomx1", false, nil}, // '.' is literal, not a regexp
		{"*", "anything", true, nil},
	}
	for _, tc := range tests {
		p, err := CompilePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		values, ok := p.match(tc.room)
		if ok != tc.match || strings.Join(values, ",") != strings.Join(tc.values, ",") {
			t.Errorf("%s ~ %s = %v %v, want %v %v", tc.pattern, tc.room, values, ok, tc.values, tc.match)
		}
	}
}

func TestBadRules(t *testing.T) {
	tests := []struct {
		rule Rule
		key  string
		want string
	}{
		{Rule{Match: ""}, "match", "must not be empty"},
		{Rule{Match: "team:{id"}, "match", "'{' without '}'"},
		{Rule{Match: "team:id}"}, "match", "'}' without '{'"},
		{Rule{Match: "dm:{a},{a}"}, "match", "appears twice"},
		{Rule{Match: "team:{1x}"}, "match", "placeholder"},
		{Rule{Match: "bad room"}, "match", "only letters"},
		{Rule{Match: "r?"}, "match", "only letters"},
		{Rule{Match: "dm:{a},{b}", Who: [numActions][]string{{"{c}"}}}, "subscribe[0]", "no {c}"},
		{Rule{Match: "x:*", Who: [numActions][]string{nil, {"anyone", "everyone"}}}, "publish[1]", "must be anyone"},
		{Rule{Match: "x:*", Who: [numActions][]string{nil, nil, {"user:"}}}, "history[0]", "must be anyone"},
	}
	for _, tc := range tests {
		bad := Check(tc.rule)
		if !strings.Contains(bad[tc.key], tc.want) {
			t.Errorf("Check(%+v) = %v, want %s: ...%s...", tc.rule, bad, tc.key, tc.want)
		}
		if _, err := Compile([]Rule{tc.rule}); err == nil && tc.key != "" && tc.rule.Match != "" && tc.key != "match" {
			t.Errorf("Compile(%+v) accepted a rule Check refused", tc.rule)
		}
	}
}

// Every word of a who list, against anonymous, a user, an admin and the
// users a room's name names.
func TestAllows(t *testing.T) {
	ps, err := Compile([]Rule{
		{Match: "public:*", Who: [numActions][]string{{Anyone}, {Authenticated}, {Anyone}, {Nobody}}},
		{Match: "team:{team}:*", Who: [numActions][]string{{"user:carol", "role:admin"}, {"role:admin"}, {"user:carol"}, {"user:carol"}}},
		{Match: "dm:{a},{b}", Who: [numActions][]string{{"{a}", "{b}"}, {"{a}", "{b}"}, {"{a}", "{b}"}, {"{a}", "{b}"}}},
		{Match: "dm:*", Who: [numActions][]string{{Nobody}, {Nobody}, {Nobody}, {Nobody}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		anon  *Caller
		alice = &Caller{Username: "alice", Role: "user"}
		bob   = &Caller{Username: "bob", Role: "user"}
		carol = &Caller{Username: "carol", Role: "user"}
		admin = &Caller{Username: "root", Role: "admin"}
	)
	tests := []struct {
		name   string
		c      *Caller
		room   string
		action Action
		want   bool
	}{
		{"anyone subscribes to public", anon, "public:lobby", Subscribe, true},
		{"anonymous may not publish where authenticated is needed", anon, "public:lobby", Publish, false},
		{"a user publishes where authenticated is needed", alice, "public:lobby", Publish, true},
		{"anyone reads public history", anon, "public:lobby", History, true},
		{"nobody reads public presence", admin, "public:lobby", Presence, false},
		{"a listed user subscribes", carol, "team:7:general", Subscribe, true},
		{"a listed role subscribes", admin, "team:7:general", Subscribe, true},
		{"an unlisted user may not subscribe", alice, "team:7:general", Subscribe, false},
		{"anonymous may not subscribe to a team room", anon, "team:7:general", Subscribe, false},
		{"per action: carol may not publish", carol, "team:7:general", Publish, false},
		{"per action: the role publishes", admin, "team:7:general", Publish, true},
		{"first named user", alice, "dm:alice,bob", Subscribe, true},
		{"second named user", bob, "dm:alice,bob", History, true},
		{"a user not named", carol, "dm:alice,bob", Subscribe, false},
		{"anonymous in a dm", anon, "dm:alice,bob", Subscribe, false},
		{"a name that looks like a user is not one (case)", alice, "dm:Alice,bob", Subscribe, false},
		{"dm rooms the pattern does not fit fall to dm:*", alice, "dm:alice,bob,carol", Subscribe, false},
		{"no policy fits: open", anon, "room1", Subscribe, true},
		{"no policy fits: open to publish", anon, "room1", Publish, true},
	}
	for _, tc := range tests {
		if got := ps.Allows(tc.c, tc.room, tc.action); got != tc.want {
			t.Errorf("%s: Allows(%v, %s, %s) = %v", tc.name, tc.c, tc.room, tc.action, got)
		}
	}
	if !(*Policies)(nil).Allows(anon, "anything", Publish) {
		t.Error("no policies must leave every room open")
	}
}

func TestRoomTokens(t *testing.T) {
	now := time.Now()
	k1 := Key{ID: "k1", Secret: []byte(strings.Repeat("a", 32))}
	k2 := Key{ID: "k2", Secret: []byte(strings.Repeat("b", 32))}
	keys := []Key{k1, k2}
	good := SignToken(k2, "game:1", "alice", now.Add(time.Minute))
	parts := strings.Split(good, ".")
	tests := []struct {
		name, tok, room, user string
		want                  error
	}{
		{"valid, second key", good, "game:1", "alice", nil},
		{"valid, first key", SignToken(k1, "game:1", "alice", now.Add(time.Minute)), "game:1", "alice", nil},
		{"anonymous token", SignToken(k1, "game:1", "", now.Add(time.Minute)), "game:1", "", nil},
		{"unknown key", SignToken(Key{ID: "k3", Secret: k1.Secret}, "game:1", "alice", now.Add(time.Minute)), "game:1", "alice", ErrTokenKey},
		{"wrong secret", SignToken(Key{ID: "k1", Secret: k2.Secret}, "game:1", "alice", now.Add(time.Minute)), "game:1", "alice", ErrTokenSignature},
		{"expired", SignToken(k1, "game:1", "alice", now.Add(-time.Second)), "game:1", "alice", ErrTokenExpired},
		{"another room", good, "game:2", "alice", ErrTokenScope},
		{"another user", good, "game:1", "bob", ErrTokenScope},
		{"a user's token used anonymously", good, "game:1", "", ErrTokenScope},
		{"claims changed", parts[0] + "." + strings.Split(SignToken(k2, "game:2", "alice", now.Add(time.Minute)), ".")[1] + "." + parts[2], "game:2", "alice", ErrTokenSignature},
		{"alg none", "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ." + parts[1] + ".", "game:1", "alice", ErrTokenKey},
		{"not a token", "nope", "game:1", "alice", ErrTokenMalformed},
	}
	for _, tc := range tests {
		if err := VerifyToken(tc.tok, keys, tc.room, tc.user, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	ps, _ := Compile([]Rule{{Match: "game:*", Who: [numActions][]string{{Token}, {Token}, {Token}, {Nobody}}}})
	if ps.Allows(&Caller{Username: "alice"}, "game:1", Subscribe) || !ps.Allows(&Caller{Token: true}, "game:1", Subscribe) {
		t.Error("the token entry must admit exactly the callers with a valid token")
	}
}
