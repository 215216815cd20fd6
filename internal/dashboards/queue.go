package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/units"

// queueTasks is the queue depth gauge by state (ready, in_flight, delayed,
// dead); every instance reads the same Redis counts, so depths are read
// with max over instances, per queue.
const queueTasks = "redlane_queue_tasks"

// queueSection: the task queue (redlane_queue_*): depth by state, throughput
// and failures.
func queueSection() section {
	return section{title: "Task queue", panels: panels(
		graph("Tasks by state", units.Short,
			"Tasks ready to claim, in flight (claimed, not yet acked), delayed (waiting for a delay or retry backoff) "+
				"and dead. Ready growing steadily: workers are too few or too slow. In flight growing: workers die or "+
				"hang before acking (their tasks come back after the visibility timeout).",
			q("sum by (state) (max by (queue, state) ("+sel(queueTasks)+"))", "{{state}}")),
		graph("Queue throughput", units.OpsPerSecond,
			"Tasks enqueued, delivered to workers (redeliveries included) and acked per second. Acked below enqueued "+
				"for long: the backlog grows.",
			q(sumRate("", "redlane_queue_tasks_enqueued_total"), "enqueued"),
			q(sumRate("", "redlane_queue_tasks_claimed_total"), "claimed"),
			q(sumRate("", "redlane_queue_tasks_acked_total"), "acked")),
		graph("Task failures per second", units.OpsPerSecond,
			"Nacks by outcome (retry after backoff, or dead), redeliveries after a worker let its visibility timeout "+
				"pass (it died or was too slow), and tasks moved to the dead letters after their last attempt.",
			q(sumRate("outcome", "redlane_queue_tasks_nacked_total"), "nack: {{outcome}}"),
			q(sumRate("", "redlane_queue_tasks_redelivered_total"), "redelivered"),
			q(sumRate("", "redlane_queue_tasks_dead_lettered_total"), "dead-lettered")),
		single("Dead letters", units.Short,
			"Tasks in the dead letters of all queues. They never run again by themselves: inspect them with "+
				"GET /queues/{name}/dead, fix the cause, then requeue or delete them.",
			q("sum(max by (queue) ("+sel(queueTasks, `state="dead"`)+"))", "dead")).
			Thresholds(steps("green", 1.0, "orange")).
			Span(12),
		graph("Claims by queue", units.OpsPerSecond,
			"Tasks delivered per second, by queue: how claims across queues (POST /queues/claim) share out the "+
				"work. Weighted priorities serve queues that all have tasks in the ratio of their weights; a queue "+
				"at zero while it has ready tasks is starved (strict priorities) or paused.",
			q(sumRate("queue", "redlane_queue_tasks_claimed_by_queue_total"), "{{queue}}")),
		graph("Scheduled tasks", units.OpsPerMinute,
			"Occurrences of spec.queue.schedules per minute, by schedule and outcome: enqueued (exactly one "+
				"instance enqueues each), skipped (missed past its grace, beyond catchUpLimit, or paused) and "+
				"triggered by hand. An enqueued line that stops: the schedule is paused or no instance runs.",
			q("60 * "+sumRate("schedule, outcome", "redlane_queue_schedule_runs_total"), "{{schedule}}: {{outcome}}")),
	)}
}
