package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
)

// Duration is a time.Duration written as a Go duration string ("30s", "5m",
// "24h") in the config document, the way Kubernetes' metav1.Duration is.
type Duration struct {
	time.Duration
}

// D is shorthand for building a Duration in defaults and tests.
func D(d time.Duration) Duration { return Duration{d} }

// MarshalJSON writes the shortest readable form ("5m" rather than "5m0s").
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// String trims the zero units Go leaves on round values.
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalJSON accepts only strings: a bare number is ambiguous (seconds?
// nanoseconds?) and is rejected with a hint.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"300s\" or \"5m\", got %s", string(b))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("must be a duration such as \"300s\" or \"5m\": %q", s)
	}
	d.Duration = v
	return nil
}

// JSONSchema describes Duration as a pattern-checked string.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
		Description: `Go duration string, e.g. "500ms", "30s", "5m", "24h".`,
	}
}

// parseSecondsOrDuration reads the env style of the FastAPI application
// Redlane stands in for ("300", seconds) as well as duration strings ("5m").
func parseSecondsOrDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}
