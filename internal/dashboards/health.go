package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// healthSection: readiness, Redis reachability, configuration reloads and
// versions (redlane_ready*, redlane_config_*, redlane_build_info, process_*).
func healthSection() section {
	return section{title: "Health and configuration", panels: panels(
		single("Ready", units.NoUnit,
			"Readiness of each instance, as /readyz answers it: NOT READY means Redis or the database does not answer "+
				"(or the pod is shutting down), and Kubernetes sends it no traffic.",
			q(sel("redlane_ready"), "{{instance}}")).
			Mappings(states("1", "READY", "green", "0", "NOT READY", "red")),
		single("Redis nodes reachable", units.NoUnit,
			"Whether every instance reaches each Redis node (INFO answered). DOWN: sessions and locks fail closed (503), "+
				"the cache serves from the database.",
			q("min by (node) ("+sel("redlane_redis_up")+")", "{{node}}")).
			Mappings(states("1", "UP", "green", "0", "DOWN", "red")),
		single("Last config reload", units.NoUnit,
			"Whether each instance's last configuration reload succeeded. FAILED: the new file was rejected and the "+
				"previous config stays in effect; GET /admin/config shows the error.",
			q(sel("redlane_config_last_reload_successful"), "{{instance}}")).
			Mappings(states("1", "OK", "green", "0", "FAILED", "red")),
		single("Settings waiting for a restart", units.Short,
			"Changed settings that only take effect after a restart (e.g. the Redis address). Above 0: roll the pods.",
			q("max("+sel("redlane_config_pending_restart")+")", "settings")).
			Thresholds(steps("green", 1.0, "orange")),
		graph("Failing readiness checks", units.Short,
			"Instances failing each readiness check (redis, database, realtime). Anything above 0 takes pods out of the load balancer.",
			q("sum by (check) (1 - "+sel("redlane_ready_check_ok")+")", "{{check}}")).
			Min(0),
		graph("Config generation by instance", units.Short,
			"Generation of the configuration in effect; it rises on every successful reload. Instances that disagree "+
				"for more than a few seconds did not pick up a change (file not mounted, reload failed).",
			q("max by (instance) ("+sel("redlane_config_generation")+")", "{{instance}}")),
		single("Config age", units.Seconds,
			"Time since each instance loaded the configuration in effect. Younger than expected on one pod only: "+
				"that pod restarted.",
			q("time() - max by (instance) ("+sel("redlane_config_last_reload_success_timestamp_seconds")+")", "{{instance}}")),
		single("Running versions", units.Short,
			"Instances per Redlane version. Two versions at once outside a rollout mean a stuck deployment.",
			q("count by (version) ("+sel("redlane_build_info")+")", "{{version}}")).
			TextMode(common.BigValueTextModeValueAndName),
		graph("Resident memory by instance", units.BytesIEC,
			"Memory of each Redlane process. A steady climb without more connections is a leak; WebSockets cost ~10 KiB each.",
			q("sum by (instance) ("+sel("process_resident_memory_bytes")+")", "{{instance}}")),
	)}
}
