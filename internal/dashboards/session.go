package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// sessionSection: logins and live sessions (redlane_session_*,
// redlane_sessions_active). Every instance reports the same cluster-wide
// session counts, so they are read with max, not summed.
func sessionSection() section {
	const logins, lookups = "redlane_session_logins_total", "redlane_session_lookups_total"
	return section{title: "Sessions", panels: panels(
		single("Active sessions", units.Short,
			"Live sessions across all instances (refreshed every 15 s). A sudden fall means sessions were lost: Redis "+
				"restarted without persistence, or evicted them (check evictions on the Redis dashboard).",
			q("max("+sel("redlane_sessions_active")+")", "sessions")),
		single("Users with a session", units.Short,
			"Distinct users holding at least one live session.",
			q("max("+sel("redlane_session_active_users")+")", "users")),
		single("Failed login ratio", units.PercentUnit,
			"Logins refused for bad credentials or a lockout, over all attempts. A jump is password guessing or "+
				"credential stuffing (lockouts then rise), or a client with a stale password.",
			q(ratio("", logins, `result=~"bad_credentials|locked"`), "failed")).
			Thresholds(steps("green", 0.2, "orange", 0.5, "red")),
		single("Session errors per second", units.CountsPerSecond,
			"Logins and session checks that failed because Redis did not answer: callers got 503. Should be 0.",
			q(sumRate("", logins, `result="error"`)+" + "+sumRate("", lookups, `result="error"`), "errors/s")).
			Thresholds(steps("green", 0.01, "red")),
		graph("Logins per second by result", units.RequestsPerSecond,
			"success, bad_credentials, locked (too many failures per user or IP), invalid (malformed request) and "+
				"error (Redis unavailable).",
			q(sumRate("result", logins), "{{result}}")),
		graph("Session checks per second by result", units.RequestsPerSecond,
			"Token checks on authenticated requests: valid, missing, expired, invalid (malformed token) and error. "+
				"Many expired: the idle timeout is shorter than your clients' habits.",
			q(sumRate("result", lookups), "{{result}}")),
	)}
}
