package web

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Duration is a duration in a request body: a number of seconds (10, 0.5),
// as the API has always taken it, or a Go duration string ("10s", "250ms").
// A malformed value does not fail decoding; it sets Problem, which the
// request's Valid method reports under the field's own name.
type Duration struct {
	time.Duration
	Set     bool   // the field was present (and not null)
	Problem string // why the value could not be read, or ""
}

const durationHint = `must be seconds or a duration such as "10s" or "250ms"`

// UnmarshalJSON accepts seconds as a number or a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = Duration{Set: true}
	switch {
	case string(b) == "null":
		d.Set = false
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			d.Problem = durationHint
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			d.Problem = fmt.Sprintf("%s, got %q", durationHint, s)
			return nil
		}
		d.Duration = v
	default:
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil || math.IsNaN(f) || math.Abs(f) > float64(math.MaxInt64/int64(time.Second)) {
			d.Problem = fmt.Sprintf("%s, got %.40s", durationHint, b)
			return nil
		}
		d.Duration = time.Duration(f * float64(time.Second))
	}
	return nil
}

// Check adds field's problem to fields when the value is malformed or
// outside [min, max]; it reports whether the value is usable.
func (d Duration) Check(fields map[string]string, field string, min, max time.Duration) bool {
	switch {
	case d.Problem != "":
		fields[field] = d.Problem
	case d.Duration < min:
		fields[field] = fmt.Sprintf("must be at least %s, got %s", min, d.Duration)
	case d.Duration > max:
		fields[field] = fmt.Sprintf("must be at most %s, got %s", max, d.Duration)
	default:
		return true
	}
	return false
}
