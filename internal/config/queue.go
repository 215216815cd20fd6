package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
	_ "time/tzdata" // schedules name IANA time zones; the static image has no zoneinfo of its own

	"github.com/robfig/cron/v3"
)

// Queue configures the task queue (/queues). Every field reloads live.
type Queue struct {
	CompletedRetention Duration   `json:"completedRetention" jsonschema_description:"How long acknowledged tasks (and their result) are kept for inspection (GET /queues/{name}/completed, GET /queues/{name}/tasks/{id}). 0 keeps none: an acked task is gone at once."`
	CompletedMax       int        `json:"completedMax" jsonschema_description:"Most completed tasks kept per queue (oldest dropped first), whatever completedRetention says."`
	ResultMaxBytes     int        `json:"resultMaxBytes" jsonschema_description:"Largest result a worker may attach to its ack (JSON, bytes); larger ones are refused with 400."`
	DeadRetention      Duration   `json:"deadRetention" jsonschema_description:"How long dead letters are kept before they are deleted for good. 0 keeps them until an operator requeues or deletes them."`
	Schedules          []Schedule `json:"schedules,omitempty" jsonschema_description:"Periodic tasks: each due occurrence is enqueued exactly once, however many instances run."`
}

// Schedule enqueues a task on a cron schedule.
type Schedule struct {
	Name         string          `json:"name" jsonschema_description:"Unique schedule name (1-100 of A-Z a-z 0-9 _ . -), used in the admin API and metrics."`
	Queue        string          `json:"queue" jsonschema_description:"The queue the task goes to."`
	Schedule     string          `json:"schedule" jsonschema_description:"When: a cron expression with 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), or @every <duration> (at least 1s), @hourly, @daily, @weekly, @monthly, @yearly."`
	TimeZone     string          `json:"timeZone" jsonschema_description:"IANA time zone the cron fields are read in, e.g. Europe/Paris; default UTC."`
	Payload      json.RawMessage `json:"payload,omitempty" jsonschema_description:"The task's payload (any JSON value but null); default {}."`
	MaxAttempts  int             `json:"maxAttempts" jsonschema_description:"Attempts of each task (1-100); default 5."`
	Missed       string          `json:"missed" jsonschema:"enum=skip,enum=catchUp" jsonschema_description:"Occurrences missed while no instance ran (or while paused): skip (default: only occurrences at most missedGrace late run) or catchUp (every missed occurrence is enqueued, oldest first, at most catchUpLimit)."`
	MissedGrace  Duration        `json:"missedGrace" jsonschema_description:"With missed: skip, how late an occurrence may still run; default 1m."`
	CatchUpLimit int             `json:"catchUpLimit" jsonschema_description:"With missed: catchUp, the most missed occurrences enqueued after a downtime; older ones are skipped. Default 100."`
}

// cronParser reads Schedule.Schedule: 5 fields, or 6 with seconds first,
// or a descriptor (@every, @daily, ...).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Cron parses the schedule in its time zone; valid documents always parse.
func (s Schedule) Cron() (cron.Schedule, error) {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, err
	}
	sched, err := cronParser.Parse(s.Schedule)
	if err != nil {
		return nil, err
	}
	if spec, ok := sched.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	return sched, nil
}

func setQueueDefaults(q *Queue) {
	setNum(&q.CompletedMax, 10000)
	setNum(&q.ResultMaxBytes, 64<<10)
	for i := range q.Schedules {
		s := &q.Schedules[i]
		setStr(&s.TimeZone, "UTC")
		setStr(&s.Missed, "skip")
		setNum(&s.MaxAttempts, 5)
		setDur(&s.MissedGrace, time.Minute)
		setNum(&s.CatchUpLimit, 100)
		if len(s.Payload) == 0 {
			s.Payload = json.RawMessage(`{}`)
		}
	}
}

var (
	scheduleName  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
	scheduleQueue = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)
)

func validateQueue(v *validator, q *Queue) {
	const p = "spec.queue."
	if q.CompletedRetention.Duration < 0 || q.CompletedRetention.Duration > 365*24*time.Hour {
		v.add(p+"completedRetention", "must be between 0 and 8760h, got %s", q.CompletedRetention)
	}
	v.between(p+"completedMax", int64(q.CompletedMax), 1, 1_000_000)
	v.between(p+"resultMaxBytes", int64(q.ResultMaxBytes), 1, 1<<20)
	if q.DeadRetention.Duration < 0 || q.DeadRetention.Duration > 365*24*time.Hour {
		v.add(p+"deadRetention", "must be between 0 and 8760h, got %s", q.DeadRetention)
	}
	seen := map[string]bool{}
	for i, s := range q.Schedules {
		sp := fmt.Sprintf("%sschedules[%d].", p, i)
		if !scheduleName.MatchString(s.Name) {
			v.add(sp+"name", "must be 1-100 of A-Z a-z 0-9 _ . -, got %q", s.Name)
		} else if seen[s.Name] {
			v.add(sp+"name", "%q is already the name of another schedule", s.Name)
		}
		seen[s.Name] = true
		if !scheduleQueue.MatchString(s.Queue) {
			v.add(sp+"queue", "must be a queue name: 1-100 of A-Z a-z 0-9 _ . : -, got %q", s.Queue)
		}
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			v.add(sp+"timeZone", "must be an IANA time zone such as Europe/Paris: %v", err)
		} else if sched, err := s.Cron(); err != nil {
			v.add(sp+"schedule", "must be a cron expression or @every <duration>: %v", err)
		} else if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay < time.Second {
			v.add(sp+"schedule", "@every must be at least 1s")
		}
		var payload any
		if err := json.Unmarshal(s.Payload, &payload); err != nil || payload == nil {
			v.add(sp+"payload", "must be a JSON value other than null")
		} else if len(s.Payload) > 256<<10 {
			v.add(sp+"payload", "must be at most 262144 bytes, got %d", len(s.Payload))
		}
		v.between(sp+"maxAttempts", int64(s.MaxAttempts), 1, 100)
		if s.Missed != "skip" && s.Missed != "catchUp" {
			v.add(sp+"missed", "must be skip or catchUp, got %q", s.Missed)
		}
		v.positive(sp+"missedGrace", s.MissedGrace)
		v.between(sp+"catchUpLimit", int64(s.CatchUpLimit), 1, 10000)
	}
}
