package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// leaderboardSection: sorted-set boards (redlane_leaderboard_*).
func leaderboardSection() section {
	return section{title: "Leaderboards", panels: panels(
		graph("Score writes per second by mode", units.WritesPerSecond,
			"Writes by mode: set, incr (add to the score) or best (keep the higher score).",
			q(sumRate("mode", "redlane_leaderboard_writes_total"), "{{mode}}")),
		graph("Board reads per second by kind", units.ReadsPerSecond,
			"top (a page of the board) and member (a rank with its neighbours). Each read is one Redis round trip; "+
				"very large pages cost Redis CPU (see commands/s on the Redis dashboard).",
			q(sumRate("kind", "redlane_leaderboard_reads_total"), "{{kind}}")),
	)}
}
