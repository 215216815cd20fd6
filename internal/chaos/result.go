package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Scenario is one fault and the promises measured under it.
type Scenario struct {
	Name string
	// Short puts the scenario in the short profile (make test): only
	// scenarios that pass on today's code, at their small size.
	Short bool
	Run   func(ctx context.Context, e *Env, p profile, r *Result) error
}

// Result collects a scenario's figures and the goals it missed.
type Result struct {
	figures []string
	missed  []string
	err     error
	start   time.Time
	elapsed time.Duration
}

// Figure records a measurement.
func (r *Result) Figure(format string, args ...any) {
	r.figures = append(r.figures, fmt.Sprintf(format, args...))
}

// Goal records a measurement that must meet goal; when ok is false the
// scenario fails and its line names the goal.
func (r *Result) Goal(ok bool, goal, format string, args ...any) {
	r.Figure(format, args...)
	if !ok {
		r.missed = append(r.missed, goal)
	}
}

func (r *Result) passed() bool { return r.err == nil && len(r.missed) == 0 }

// line is the scenario's one line: verdict, name, wall time, figures, and
// what it missed.
func (r *Result) line(name string, width int) string {
	verdict := "PASS"
	if !r.passed() {
		verdict = "FAIL"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-*s %5.1fs  %s", verdict, width, name, r.elapsed.Seconds(), strings.Join(r.figures, "; "))
	if r.err != nil {
		fmt.Fprintf(&b, " — error: %v", r.err)
	}
	if len(r.missed) > 0 {
		fmt.Fprintf(&b, " — missed: %s", strings.Join(r.missed, "; "))
	}
	return b.String()
}

// durations summarizes latencies.
type durations []time.Duration

func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append(durations(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q * float64(len(s)))
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func (d durations) max() time.Duration { return d.quantile(1) }

// ms formats a duration as milliseconds or seconds, for figures.
func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	if d >= time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
