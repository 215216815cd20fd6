package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/internal/errdefs"
)

// Periodic tasks (spec.queue.schedules). Every instance runs a Scheduler;
// Redis decides which of them enqueues an occurrence. Each schedule's
// state (the last occurrence run) lives in its queue's schedules hash, and
// the script that enqueues an occurrence first checks that the state still
// names the occurrence before it (compare-and-set), so however many
// instances see an occurrence due, exactly one enqueues it. Due is decided
// on Redis' clock, so instances with skewed clocks agree.

// scheduleStateScript reads a schedule's state, starting it (last = now,
// nothing missed) when it has none or was computed for another spec.
// ARGV: name, spec, now ms ("" for Redis time). Returns {state json, now ms}.
var scheduleStateScript = redis.NewScript(prelude + `
local now = tonumber(ARGV[3]) or now_ms()
local raw = redis.call('HGET', K_SCHEDULES, ARGV[1])
local st = raw and cjson.decode(raw)
if not st or st.spec ~= ARGV[2] then
  local paused = st and st.paused or false
  st = {last = now, spec = ARGV[2], paused = paused, fired = st and st.fired or 0, skipped = st and st.skipped or 0}
  redis.call('HSET', K_SCHEDULES, ARGV[1], cjson.encode(st))
end
return {cjson.encode(st), now}
`)

// scheduleFireScript moves a schedule from occurrence `from` to `to`,
// counting `skipped` occurrences in between as skipped, and enqueues the
// task of occurrence `to` unless it is skipped too or the schedule is paused.
// ARGV: name, spec, from ms, to ms, skipped, fire (1|0), id, payload,
// max attempts, traceparent (” when tracing is off).
// Returns 1 enqueued, 2 skipped (paused or asked), 0 someone else moved it.
var scheduleFireScript = redis.NewScript(prelude + `
local raw = redis.call('HGET', K_SCHEDULES, ARGV[1])
if not raw then return 0 end
local st = cjson.decode(raw)
if st.spec ~= ARGV[2] or st.last ~= tonumber(ARGV[3]) then return 0 end
local to, skipped = tonumber(ARGV[4]), tonumber(ARGV[5])
st.last = to
local fired = 0
if ARGV[6] == '1' and not st.paused then
  local m = add_task(ARGV[7], ARGV[8], tonumber(ARGV[9]), 0, '', now_ms(), {schedule = ARGV[1], occurrence = to, tp = ARGV[10] ~= '' and ARGV[10] or nil})
  if m.err then return m end
  st.fired, fired = st.fired + 1, 1
  redis.call('HINCRBY', K_STATS, 'scheduled', 1)
else
  skipped = skipped + 1
end
if skipped > 0 then
  st.skipped = st.skipped + skipped
  redis.call('HINCRBY', K_STATS, 'skipped', skipped)
end
redis.call('HSET', K_SCHEDULES, ARGV[1], cjson.encode(st))
if fired == 1 then return 1 end
return 2
`)

// schedulePauseScript sets a schedule's paused flag (ARGV: name, 1|0);
// occurrences while paused are skipped. Returns 0 when it has no state yet.
var schedulePauseScript = redis.NewScript(prelude + `
local raw = redis.call('HGET', K_SCHEDULES, ARGV[1])
if not raw then return 0 end
local st = cjson.decode(raw)
st.paused = ARGV[2] == '1'
redis.call('HSET', K_SCHEDULES, ARGV[1], cjson.encode(st))
return 1
`)

// scheduleTriggerScript enqueues a schedule's task now, by hand, outside
// its occurrences. ARGV: name, id, payload, max attempts, traceparent.
var scheduleTriggerScript = redis.NewScript(prelude + `
local m = add_task(ARGV[2], ARGV[3], tonumber(ARGV[4]), 0, '', now_ms(), {schedule = ARGV[1], tp = ARGV[5] ~= '' and ARGV[5] or nil})
if m.err then return m end
redis.call('HINCRBY', K_STATS, 'triggered', 1)
return 1
`)

type scheduleState struct {
	Last    int64  `json:"last"`
	Spec    string `json:"spec"`
	Paused  bool   `json:"paused"`
	Fired   int64  `json:"fired"`
	Skipped int64  `json:"skipped"`
}

// ErrNoSchedule: no schedule of that name in spec.queue.schedules.
var ErrNoSchedule = errdefs.NotFound("No such schedule in spec.queue.schedules.")

// maxCountedMissed bounds how far back missed occurrences are counted
// (an @every 1s schedule down for a day has 86,400).
const maxCountedMissed = 100_000

// Scheduler enqueues the due occurrences of spec.queue.schedules. Run it
// in the service's errgroup on every instance; it stops when ctx ends.
type Scheduler struct {
	Broker *Broker
	Config *config.Store
	Logger *slog.Logger
	// Clock, when set, replaces Redis' clock (tests run schedules fast).
	Clock func() time.Time
	// Tick is the longest pause between two looks at the schedules;
	// default 1s.
	Tick time.Duration

	runs *prometheus.CounterVec
	next *prometheus.GaugeVec
}

// NewScheduler returns a Scheduler whose metrics go to reg (nil: none).
func NewScheduler(b *Broker, cfg *config.Store, reg prometheus.Registerer, log *slog.Logger) *Scheduler {
	s := &Scheduler{Broker: b, Config: cfg, Logger: log,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redlane_queue_schedule_runs_total",
			Help: "Occurrences of each schedule (spec.queue.schedules) handled by this instance, by outcome: enqueued, skipped (missed past its grace, beyond catchUpLimit, or while paused), triggered (by hand).",
		}, []string{"schedule", "outcome"}),
		next: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redlane_queue_schedule_next_run_timestamp_seconds",
			Help: "When each schedule's next occurrence is due (Unix seconds), as this instance last computed it.",
		}, []string{"schedule"}),
	}
	if reg != nil {
		reg.MustRegister(s.runs, s.next)
	}
	return s
}

// Run looks at the schedules every Tick (sooner when one is due sooner)
// until ctx ends. Redis errors are logged and retried on the next look.
func (s *Scheduler) Run(ctx context.Context) error {
	tick := s.Tick
	if tick <= 0 {
		tick = time.Second
	}
	failing := map[string]bool{}
	for {
		next, _ := s.runAll(ctx, failing)
		if !pause(ctx, min(tick, max(next, 10*time.Millisecond))) {
			return nil
		}
	}
}

// RunDue enqueues every schedule's due occurrences once, now; it returns
// the first error (the other schedules still ran).
func (s *Scheduler) RunDue(ctx context.Context) error {
	_, err := s.runAll(ctx, map[string]bool{})
	return err
}

// runAll runs the due occurrences of every schedule and answers how long
// until the next is due. failing holds the schedules whose last run
// failed, so each failure and recovery is logged once.
func (s *Scheduler) runAll(ctx context.Context, failing map[string]bool) (time.Duration, error) {
	log := s.logger()
	next := time.Duration(1<<63 - 1)
	var first error
	for _, sc := range s.Config.Current().Spec.Queue.Schedules {
		d, err := s.runDue(ctx, sc)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err != nil {
			if !failing[sc.Name] {
				log.Warn("running a schedule failed; retrying", "schedule", sc.Name, "queue", sc.Queue, "error", err.Error())
			}
			failing[sc.Name] = true
			first = cmp.Or(first, err)
			continue
		}
		if failing[sc.Name] {
			log.Info("schedule running again", "schedule", sc.Name)
			delete(failing, sc.Name)
		}
		next = min(next, d)
	}
	return next, first
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Scheduler) nowArg() string {
	if s.Clock == nil {
		return ""
	}
	return strconv.FormatInt(s.Clock().UnixMilli(), 10)
}

// runDue enqueues sc's due occurrences and answers how long until the next.
func (s *Scheduler) runDue(ctx context.Context, sc config.Schedule) (time.Duration, error) {
	sched, err := sc.Cron()
	if err != nil {
		return 0, err // validation keeps this from happening
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, now, err := s.state(ctx, sc)
	if err != nil {
		return 0, err
	}
	// The occurrences since the last one run, oldest first; with more
	// than fit, the oldest are counted only.
	limit := sc.CatchUpLimit
	if sc.Missed == "skip" {
		limit = maxCountedMissed
	}
	var due []time.Time
	counted := 0
	for t := sched.Next(time.UnixMilli(st.Last)); !t.After(now) && counted < maxCountedMissed; t = sched.Next(t) {
		counted++
		due = append(due, t)
		if len(due) > limit {
			due = due[1:]
		}
	}
	skippedBefore := counted - len(due)
	from := st.Last
	for i, t := range due {
		fire := sc.Missed == "catchUp" || now.Sub(t) <= sc.MissedGrace.Duration
		if !fire && i < len(due)-1 {
			skippedBefore++ // folded into the next step: one script call for a run of skips
			continue
		}
		outcome, err := s.fire(ctx, sc, from, t, skippedBefore, fire)
		if err != nil || outcome == 0 {
			// another instance moved the schedule on; it runs the rest
			return 10 * time.Millisecond, err
		}
		if skippedBefore > 0 {
			s.runs.WithLabelValues(sc.Name, "skipped").Add(float64(skippedBefore))
		}
		if outcome == 1 {
			s.runs.WithLabelValues(sc.Name, "enqueued").Inc()
		} else {
			s.runs.WithLabelValues(sc.Name, "skipped").Inc()
		}
		from, skippedBefore = t.UnixMilli(), 0
	}
	next := nextRun(sched, from, now)
	s.next.WithLabelValues(sc.Name).Set(float64(next.UnixMilli()) / 1000)
	return next.Sub(now), nil
}

// nextRun is the first occurrence after the last one run that is not due
// yet at now.
func nextRun(sched cron.Schedule, last int64, now time.Time) time.Time {
	t := sched.Next(time.UnixMilli(last))
	for n := 0; !t.After(now) && n < maxCountedMissed; n++ {
		t = sched.Next(t)
	}
	return t
}

// state reads (or starts) sc's state, with the time it was read at.
func (s *Scheduler) state(ctx context.Context, sc config.Schedule) (scheduleState, time.Time, error) {
	res, err := scheduleStateScript.Run(ctx, s.Broker.rc, s.Broker.keys.of(sc.Queue), sc.Name, specOf(sc), s.nowArg()).Slice()
	if err != nil {
		return scheduleState{}, time.Time{}, fmt.Errorf("reading schedule %q: %w", sc.Name, err)
	}
	var st scheduleState
	if err := json.Unmarshal([]byte(asString(res[0])), &st); err != nil {
		return scheduleState{}, time.Time{}, fmt.Errorf("reading schedule %q: %w", sc.Name, err)
	}
	return st, time.UnixMilli(asInt(res[1])), nil
}

// fire moves sc from occurrence from to t; see scheduleFireScript.
func (s *Scheduler) fire(ctx context.Context, sc config.Schedule, from int64, t time.Time, skipped int, fire bool) (int64, error) {
	id, err := newID(12)
	if err != nil {
		return 0, err
	}
	f, tp := "0", ""
	if fire {
		f = "1"
		// An occurrence starts a trace of its own: its task's deliveries
		// and ack are children of this enqueue span.
		var span trace.Span
		ctx, span, tp = s.Broker.startEnqueue(trace.ContextWithSpanContext(ctx, trace.SpanContext{}), sc.Queue)
		if span != nil {
			span.SetAttributes(attribute.String("queue.schedule", sc.Name), attribute.String("queue.occurrence", t.UTC().Format(time.RFC3339)))
			defer span.End()
		}
	}
	n, err := scheduleFireScript.Run(ctx, s.Broker.rc, s.Broker.keys.of(sc.Queue),
		sc.Name, specOf(sc), from, t.UnixMilli(), skipped, f, id, string(sc.Payload), sc.MaxAttempts, tp).Int64()
	if err != nil {
		return 0, fmt.Errorf("enqueueing schedule %q's occurrence at %s: %w", sc.Name, t.Format(time.RFC3339), err)
	}
	if span := trace.SpanFromContext(ctx); fire && span.IsRecording() {
		outcome := "moved by another instance" // it enqueued the occurrence, or skipped it
		switch n {
		case 1:
			outcome = "enqueued"
			span.SetAttributes(attribute.String("messaging.message.id", id))
		case 2:
			outcome = "skipped"
		}
		span.SetAttributes(attribute.String("queue.schedule.outcome", outcome))
	}
	if n == 1 {
		s.Broker.metrics.enqueued.Inc()
		s.Broker.register(ctx, sc.Queue)
	}
	return n, nil
}

// specOf is what a schedule's state is computed for: changing the
// schedule or its time zone starts it afresh (nothing missed).
func specOf(sc config.Schedule) string { return sc.Schedule + " " + sc.TimeZone }

// ScheduleInfo is what the admin API shows of a schedule.
type ScheduleInfo struct {
	Name      string          `json:"name"`
	Queue     string          `json:"queue"`
	Schedule  string          `json:"schedule"`
	TimeZone  string          `json:"timeZone"`
	Missed    string          `json:"missed"`
	Paused    bool            `json:"paused"`
	LastRunAt *time.Time      `json:"lastRunAt,omitempty"` // the last occurrence handled (run or skipped)
	NextRunAt time.Time       `json:"nextRunAt"`
	Enqueued  int64           `json:"enqueued"` // occurrences enqueued, by every instance
	Skipped   int64           `json:"skipped"`
	Payload   json.RawMessage `json:"payload"`
}

// Schedules lists the configured schedules with their state.
func (s *Scheduler) Schedules(ctx context.Context) ([]ScheduleInfo, error) {
	scs := s.Config.Current().Spec.Queue.Schedules
	out := make([]ScheduleInfo, 0, len(scs))
	for _, sc := range scs {
		sched, err := sc.Cron()
		if err != nil {
			return nil, err
		}
		st, now, err := s.state(ctx, sc)
		if err != nil {
			return nil, err
		}
		last := time.UnixMilli(st.Last)
		info := ScheduleInfo{Name: sc.Name, Queue: sc.Queue, Schedule: sc.Schedule, TimeZone: sc.TimeZone, Missed: sc.Missed,
			Paused: st.Paused, NextRunAt: nextRun(sched, st.Last, now), Enqueued: st.Fired, Skipped: st.Skipped, Payload: sc.Payload}
		if st.Fired+st.Skipped > 0 {
			info.LastRunAt = &last
		}
		out = append(out, info)
	}
	return out, nil
}

func (s *Scheduler) find(name string) (config.Schedule, error) {
	for _, sc := range s.Config.Current().Spec.Queue.Schedules {
		if sc.Name == name {
			return sc, nil
		}
	}
	return config.Schedule{}, ErrNoSchedule
}

// SetPaused pauses or resumes a schedule on every instance: occurrences
// while it is paused are skipped, not caught up.
func (s *Scheduler) SetPaused(ctx context.Context, name string, paused bool) error {
	sc, err := s.find(name)
	if err != nil {
		return err
	}
	if _, _, err := s.state(ctx, sc); err != nil {
		return err
	}
	arg := "0"
	if paused {
		arg = "1"
	}
	if err := schedulePauseScript.Run(ctx, s.Broker.rc, s.Broker.keys.of(sc.Queue), name, arg).Err(); err != nil {
		return fmt.Errorf("pausing schedule %q: %w", name, err)
	}
	return nil
}

// Trigger enqueues a schedule's task now, outside its occurrences (they
// go on unchanged); it answers the task's id.
func (s *Scheduler) Trigger(ctx context.Context, name string) (string, error) {
	sc, err := s.find(name)
	if err != nil {
		return "", err
	}
	id, err := newID(12)
	if err != nil {
		return "", err
	}
	ctx, span, tp := s.Broker.startEnqueue(ctx, sc.Queue)
	if span != nil {
		span.SetAttributes(attribute.String("messaging.message.id", id), attribute.String("queue.schedule", sc.Name))
		defer span.End()
	}
	if err := scheduleTriggerScript.Run(ctx, s.Broker.rc, s.Broker.keys.of(sc.Queue), name, id, string(sc.Payload), sc.MaxAttempts, tp).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("triggering schedule %q: %w", name, err)
	}
	s.runs.WithLabelValues(sc.Name, "triggered").Inc()
	s.Broker.metrics.enqueued.Inc()
	s.Broker.register(ctx, sc.Queue)
	return id, nil
}
