package config_test

import (
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/config"
)

func TestRealtimeDefaultsAndValidation(t *testing.T) {
	d := config.Default().Spec.Realtime
	if d.RequireAuthentication || d.MaxRoomsPerConnection < 1 || d.SendQueueSize < 1 || d.HistorySize < 1 || d.PresenceTTL.Duration <= 0 {
		t.Fatalf("realtime defaults = %+v", d)
	}
	c, err := config.Parse([]byte(`spec:
  realtime:
    allowedOrigins: ["ftp://x", "*"]
    maxRoomsPerConnection: -1
    maxMessageBytes: 4096
    maxFrameBytes: 1000
    sendQueueSize: -5
    historyRetention: 10ms
    presenceTTL: 100ms
    pingInterval: -1s
`))
	err = defaultAndValidate(t, c, err)
	for _, want := range []string{
		"spec.realtime.allowedOrigins[0]", "spec.realtime.maxRoomsPerConnection", "spec.realtime.maxFrameBytes",
		"spec.realtime.sendQueueSize", "spec.realtime.historyRetention", "spec.realtime.presenceTTL", "spec.realtime.pingInterval",
	} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("validation error %v does not name %s", err, want)
		}
	}
}

// Room policies: bad patterns and who entries are errors naming their field;
// publish, history and presence default to subscribe's list.
func TestRoomPolicies(t *testing.T) {
	c, err := config.Parse([]byte(`spec:
  realtime:
    roomPolicies:
      - {match: "dm:{a},{b}", subscribe: ["{a}", "{b}"]}
      - {match: "team:{id", subscribe: [anyone]}
      - {match: "x:*", subscribe: [everyone], publish: ["{who}"]}
      - {match: "y:*"}
`))
	err = defaultAndValidate(t, c, err)
	for _, want := range []string{
		"spec.realtime.roomPolicies[1].match", "spec.realtime.roomPolicies[2].subscribe[0]",
		"spec.realtime.roomPolicies[2].publish[0]", "spec.realtime.roomPolicies[3].subscribe",
	} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("validation error %v does not name %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "roomPolicies[0]") {
		t.Errorf("a sound policy was refused: %v", err)
	}
	dm := c.Spec.Realtime.RoomPolicies[0]
	if strings.Join(dm.Publish, ",") != "{a},{b}" || strings.Join(dm.History, ",") != "{a},{b}" || strings.Join(dm.Presence, ",") != "{a},{b}" {
		t.Errorf("defaults of an action-less policy: %+v, want subscribe's list everywhere", dm)
	}
}

// defaultAndValidate applies the defaults to a parsed document and
// validates it.
func defaultAndValidate(t *testing.T, c *config.Config, parseErr error) error {
	t.Helper()
	if parseErr != nil {
		t.Fatal(parseErr)
	}
	config.SetDefaults(c)
	return config.Validate(c)
}
