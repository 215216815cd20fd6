// Package dashboards defines Redlane's Grafana dashboards as Go code (the
// Grafana Foundation SDK) and renders them to the JSON checked in under
// dashboards/ at the repository root. Each feature has its own file holding
// its overview section, so a new feature adds its panels in one place.
//
// Regenerate with `make dashboards` (or `go generate ./internal/dashboards`);
// TestDashboardsUpToDate fails when the checked-in JSON is stale.
package dashboards

//go:generate go run ../../tools/dashboards -out ../../dashboards
