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
	if err != nil {
		t.Fatal(err)
	}
	config.SetDefaults(c)
	err = config.Validate(c)
	for _, want := range []string{
		"spec.realtime.allowedOrigins[0]", "spec.realtime.maxRoomsPerConnection", "spec.realtime.maxFrameBytes",
		"spec.realtime.sendQueueSize", "spec.realtime.historyRetention", "spec.realtime.presenceTTL", "spec.realtime.pingInterval",
	} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("validation error %v does not name %s", err, want)
		}
	}
}
