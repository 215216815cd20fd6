package chaos

import "time"

// scenarios is the suite, in the order it runs. Short marks the scenarios
// of the short profile (make test); every scenario is in it, at the short
// profile's size.
var scenarios = []Scenario{
	{Name: "redis-kill", Short: true, Run: redisKill},
	{Name: "redis-pause", Short: true, Run: redisPause},
	{Name: "chat-redis-restart", Short: true, Run: chatRedisRestart},
	{Name: "sigterm-instance", Short: true, Run: sigtermInstance},
	{Name: "queue-worker-kill", Short: true, Run: queueWorkerKill},
	{Name: "net-drop", Short: true, Run: netFault(Drop)},
	{Name: "net-delay", Short: true, Run: netFault(Delay)},
	{Name: "net-blackhole", Short: true, Run: netFault(Blackhole)},
	{Name: "cluster-master-kill", Short: true, Run: clusterMasterKill},
	{Name: "cluster-pubsub-kill", Short: true, Run: clusterPubsubKill},
	{Name: "cluster-replica-cut", Short: true, Run: clusterReplicaCut},
}

// profile sizes a run. The long profile is what the issue asks for (10 s
// outages, 1,000 WebSocket clients, 1,000 tasks); the short one keeps the
// same faults at a size that fits make test on a busy 2-core machine.
type profile struct {
	name string
	all  bool // every scenario, not only the Short ones

	warm    time.Duration // load before the fault
	outage  time.Duration // Redis killed or paused, proxy fault
	recover time.Duration // load after the fault

	chatSockets    int // live chat clients of a chat scenario
	resumers       int // clients offline across the fault, then resuming
	sigtermSockets int // WebSocket clients of sigterm-instance
	tasks          int // tasks of queue-worker-kill
	publishRate    int // chat messages per second

	// recoveryBudget is how long a Cluster scenario waits for writes to
	// work again after a promotion before it gives up and reports.
	recoveryBudget time.Duration

	// slack is what a request may take beyond its deadline: the 100 ms the
	// promise states in the long profile; more in the short one, which runs
	// inside make test beside other test packages on a 2-core machine, where
	// scheduling delay alone can exceed 100 ms (its figures still show).
	slack time.Duration

	// decision is spec.rateLimiter.decisionTimeout of the instances: the
	// default 100 ms in the long profile; 500 ms in the short one, where
	// other test packages' load alone makes 100 ms round trips to Redis
	// miss (CI runs with two rate-limit breakers that never closed).
	decision time.Duration
}

var profiles = map[string]profile{
	"short": {
		name: "short", warm: 1500 * time.Millisecond, outage: 4 * time.Second, recover: 3 * time.Second,
		chatSockets: 16, resumers: 4, sigtermSockets: 100, tasks: 300, publishRate: 20,
		recoveryBudget: 20 * time.Second, slack: 600 * time.Millisecond, decision: 500 * time.Millisecond,
	},
	"long": {
		name: "long", all: true, warm: 3 * time.Second, outage: 10 * time.Second, recover: 5 * time.Second,
		chatSockets: 40, resumers: 8, sigtermSockets: 1000, tasks: 1000, publishRate: 20,
		recoveryBudget: 60 * time.Second, slack: 100 * time.Millisecond, decision: decisionDeadline,
	},
}
