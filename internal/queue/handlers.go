package queue

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/web"
)

type enqueueRequest struct {
	Payload     json.RawMessage `json:"payload"`
	Delay       web.Duration    `json:"delay"`
	MaxAttempts *int            `json:"maxAttempts"`
	UniqueKey   string          `json:"uniqueKey"`
}

func (q enqueueRequest) Valid() map[string]string {
	f := map[string]string{}
	switch {
	case len(q.Payload) == 0 || string(q.Payload) == "null":
		f["payload"] = "must be present: any JSON value except null"
	case len(q.Payload) > MaxPayloadBytes:
		f["payload"] = "must be at most " + strconv.Itoa(MaxPayloadBytes) + " bytes"
	}
	if q.Delay.Set {
		q.Delay.Check(f, "delay", 0, MaxDelay)
	}
	if q.MaxAttempts != nil && (*q.MaxAttempts < 1 || *q.MaxAttempts > MaxAttemptsLimit) {
		f["maxAttempts"] = "must be 1-" + strconv.Itoa(MaxAttemptsLimit)
	}
	if len(q.UniqueKey) > MaxUniqueKeyLen {
		f["uniqueKey"] = "must be at most " + strconv.Itoa(MaxUniqueKeyLen) + " bytes"
	}
	return f
}

type claimRequest struct {
	Worker            string       `json:"worker"`
	Count             *int         `json:"count"`
	VisibilityTimeout web.Duration `json:"visibilityTimeout"`
	Wait              web.Duration `json:"wait"`
}

func (q claimRequest) Valid() map[string]string {
	f := map[string]string{}
	if len(q.Worker) > 100 {
		f["worker"] = "must be at most 100 bytes"
	}
	if q.Count != nil && (*q.Count < 1 || *q.Count > MaxClaim) {
		f["count"] = "must be 1-" + strconv.Itoa(MaxClaim)
	}
	if q.VisibilityTimeout.Set {
		q.VisibilityTimeout.Check(f, "visibilityTimeout", MinVisibility, MaxVisibility)
	}
	if q.Wait.Set {
		q.Wait.Check(f, "wait", 0, time.Hour)
	}
	return f
}

// settings are the claim's worker, count and visibility, defaults filled.
func (q claimRequest) settings() (worker string, n int, visibility time.Duration) {
	worker, n, visibility = q.Worker, 1, DefaultVisibility
	if worker == "" {
		worker = "http"
	}
	if q.Count != nil {
		n = *q.Count
	}
	if q.VisibilityTimeout.Set {
		visibility = q.VisibilityTimeout.Duration
	}
	return worker, n, visibility
}

type receiptRequest struct {
	Receipt           string          `json:"receipt"`
	Result            json.RawMessage `json:"result"`            // ack only: kept with the completed task
	Error             string          `json:"error"`             // nack only
	Delay             web.Duration    `json:"delay"`             // nack only: instead of the backoff
	VisibilityTimeout web.Duration    `json:"visibilityTimeout"` // extend only
}

func (q receiptRequest) Valid() map[string]string {
	f := map[string]string{}
	if q.Receipt == "" || len(q.Receipt) > 100 {
		f["receipt"] = "must be the receipt answered by the claim"
	}
	if len(q.Error) > 1000 {
		f["error"] = "must be at most 1000 bytes"
	}
	if q.Delay.Set {
		q.Delay.Check(f, "delay", 0, MaxDelay)
	}
	if q.VisibilityTimeout.Set {
		q.VisibilityTimeout.Check(f, "visibilityTimeout", MinVisibility, MaxVisibility)
	}
	return f
}

// HandleEnqueue serves POST /queues/{name}/tasks: 201 with the task id, or
// 200 with the live task when uniqueKey names one.
func (b *Broker) HandleEnqueue() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathQueue(r)
		if err != nil {
			return err
		}
		q, err := web.Decode[enqueueRequest](r)
		if err != nil {
			return err
		}
		o := EnqueueOptions{Delay: q.Delay.Duration, UniqueKey: q.UniqueKey}
		if q.MaxAttempts != nil {
			o.MaxAttempts = *q.MaxAttempts
		}
		e, err := b.Enqueue(r.Context(), name, q.Payload, o)
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if e.Duplicate {
			status = http.StatusOK
		} else {
			w.Header().Set("Location", "/queues/"+name+"/tasks/"+e.ID)
		}
		return web.Encode(w, status, map[string]any{"queue": name, "id": e.ID, "state": e.State, "duplicate": e.Duplicate})
	})
}

// HandleClaim serves POST /queues/{name}/claim {"worker","count",
// "visibilityTimeout","wait"}: 200 {"tasks":[...]}, empty when none came.
func (b *Broker) HandleClaim() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathQueue(r)
		if err != nil {
			return err
		}
		q, err := web.DecodeOptional[claimRequest](r)
		if err != nil {
			return err
		}
		if lim := b.cfg.Current().Spec.Server.LongPollLimit(); q.Wait.Duration > lim {
			return errdefs.Invalid("wait", "must be at most "+lim.String())
		}
		worker, n, vis := q.settings()
		got, err := b.Claim(r.Context(), name, worker, n, vis, q.Wait.Duration)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"queue": name, "tasks": got})
	})
}

// HandleAck serves POST /queues/{name}/tasks/{id}/ack {"receipt","result"}: 204;
// 409 when the receipt no longer holds the task; 404 for unknown tasks.
func (b *Broker) HandleAck() http.Handler {
	return withReceipt(func(w http.ResponseWriter, r *http.Request, name, id string, q receiptRequest) error {
		if err := b.Ack(r.Context(), name, id, q.Receipt, q.Result); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// HandleNack serves POST /queues/{name}/tasks/{id}/nack {"receipt","error",
// "delay"}: the task is retried after its backoff (or delay), or dead.
func (b *Broker) HandleNack() http.Handler {
	return withReceipt(func(w http.ResponseWriter, r *http.Request, name, id string, q receiptRequest) error {
		var delay *time.Duration
		if q.Delay.Set {
			delay = &q.Delay.Duration
		}
		res, err := b.Nack(r.Context(), name, id, q.Receipt, q.Error, delay)
		if err != nil {
			return err
		}
		if res.Dead {
			return web.Encode(w, http.StatusOK, map[string]any{"id": id, "state": "dead"})
		}
		return web.Encode(w, http.StatusOK, map[string]any{"id": id, "state": "retrying", "retryInMs": res.RetryAfter.Milliseconds()})
	})
}

// HandleExtend serves POST /queues/{name}/tasks/{id}/extend {"receipt",
// "visibilityTimeout"}: a heartbeat for long work.
func (b *Broker) HandleExtend() http.Handler {
	return withReceipt(func(w http.ResponseWriter, r *http.Request, name, id string, q receiptRequest) error {
		vis := DefaultVisibility
		if q.VisibilityTimeout.Set {
			vis = q.VisibilityTimeout.Duration
		}
		at, err := b.Extend(r.Context(), name, id, q.Receipt, vis)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"id": id, "visibleAgainAt": at})
	})
}

func withReceipt(h func(http.ResponseWriter, *http.Request, string, string, receiptRequest) error) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, id, err := pathTask(r)
		if err != nil {
			return err
		}
		q, err := web.Decode[receiptRequest](r)
		if err != nil {
			return err
		}
		return h(w, r, name, id, q)
	})
}

// HandleGetTask serves GET /queues/{name}/tasks/{id}.
func (b *Broker) HandleGetTask() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, id, err := pathTask(r)
		if err != nil {
			return err
		}
		t, err := b.Get(r.Context(), name, id)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, t)
	})
}

// HandleStats serves GET /queues/{name}: ready, in flight, delayed, dead.
func (b *Broker) HandleStats() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathQueue(r)
		if err != nil {
			return err
		}
		s, err := b.Stats(r.Context(), name)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, s)
	})
}

// HandleListDead serves GET /queues/{name}/dead?offset=&limit= (oldest
// first; limit 1-1000, default 100).
func (b *Broker) HandleListDead() http.Handler {
	return b.handleList("dead")
}

func (b *Broker) handleList(which string) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathQueue(r)
		if err != nil {
			return err
		}
		offset, err := web.QueryInt(r, "offset", 0, 0, 1<<31)
		if err != nil {
			return err
		}
		limit, err := web.QueryInt(r, "limit", 100, 1, 1000)
		if err != nil {
			return err
		}
		tasks, total, err := b.list(r.Context(), which, name, offset, limit)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"queue": name, "total": total, "offset": offset, "tasks": tasks})
	})
}

// HandleListCompleted serves GET /queues/{name}/completed?offset=&limit=
// (newest first; limit 1-1000, default 100): acked tasks kept for
// spec.queue.completedRetention, with their results.
func (b *Broker) HandleListCompleted() http.Handler {
	return b.handleList("completed")
}

// HandlePause serves POST /queues/{name}/pause: claims answer nothing until
// resume; enqueues are still accepted.
func (b *Broker) HandlePause() http.Handler { return b.handlePaused(true) }

// HandleResume serves POST /queues/{name}/resume.
func (b *Broker) HandleResume() http.Handler { return b.handlePaused(false) }

func (b *Broker) handlePaused(paused bool) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, err := pathQueue(r)
		if err != nil {
			return err
		}
		changed, err := b.setPaused(r.Context(), name, paused)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"queue": name, "paused": paused, "changed": changed})
	})
}

// HandleRequeueDead serves POST /queues/{name}/dead/{id}/requeue.
func (b *Broker) HandleRequeueDead() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, id, err := pathTask(r)
		if err != nil {
			return err
		}
		if err := b.Requeue(r.Context(), name, id); err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"id": id, "state": "ready"})
	})
}

// HandleDeleteDead serves DELETE /queues/{name}/dead/{id}.
func (b *Broker) HandleDeleteDead() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name, id, err := pathTask(r)
		if err != nil {
			return err
		}
		if err := b.DeleteDead(r.Context(), name, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func pathQueue(r *http.Request) (string, error) {
	name := web.Var(r, "name")
	if !queueName.MatchString(name) {
		return "", web.BadRequest("name", queueNameRule)
	}
	return name, nil
}

func pathTask(r *http.Request) (string, string, error) {
	name, err := pathQueue(r)
	if err != nil {
		return "", "", err
	}
	id := web.Var(r, "id")
	if !taskID.MatchString(id) {
		return "", "", errdefs.NotFound("No task %q in queue %q.", id, name)
	}
	return name, id, nil
}

type priorityClaimRequest struct {
	Queues map[string]int `json:"queues"`
	Strict bool           `json:"strict"`
	claimRequest
}

func (q priorityClaimRequest) Valid() map[string]string {
	f := q.claimRequest.Valid()
	if len(q.Queues) == 0 || len(q.Queues) > MaxClaimQueues {
		f["queues"] = "must map 1-" + strconv.Itoa(MaxClaimQueues) + " queue names to weights"
	}
	for name, w := range q.Queues {
		if !queueName.MatchString(name) {
			f["queues"] = strconv.Quote(name) + ": " + queueNameRule
		} else if w < 1 || w > 1000 {
			f["queues."+name] = "weight must be 1-1000"
		}
	}
	return f
}

// HandleClaimPriorities serves POST /queues/claim {"queues":{"critical":6,
// "default":3,"low":1},"strict","worker","count","visibilityTimeout","wait"}:
// one claim across queues, weighted (or strict) by priority; each task
// names its queue.
func (b *Broker) HandleClaimPriorities() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		q, err := web.Decode[priorityClaimRequest](r)
		if err != nil {
			return err
		}
		if lim := b.cfg.Current().Spec.Server.LongPollLimit(); q.Wait.Duration > lim {
			return errdefs.Invalid("wait", "must be at most "+lim.String())
		}
		p := Priorities{Strict: q.Strict}
		for name, weight := range q.Queues {
			p.Queues = append(p.Queues, Priority{Queue: name, Weight: weight})
		}
		sort.Slice(p.Queues, func(i, j int) bool { return p.Queues[i].Queue < p.Queues[j].Queue })
		worker, n, vis := q.claimRequest.settings()
		got, err := b.ClaimPriorities(r.Context(), p, worker, n, vis, q.Wait.Duration)
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"tasks": got})
	})
}

// HandleList serves GET /schedules: every schedule of
// spec.queue.schedules with its last and next run and its counts.
func (s *Scheduler) HandleList() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.Schedules(r.Context())
		if err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"schedules": list})
	})
}

// HandlePause serves POST /schedules/{name}/pause: its occurrences are
// skipped, on every instance, until resumed.
func (s *Scheduler) HandlePause() http.Handler { return s.handlePaused(true) }

// HandleResume serves POST /schedules/{name}/resume.
func (s *Scheduler) HandleResume() http.Handler { return s.handlePaused(false) }

func (s *Scheduler) handlePaused(paused bool) http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name := web.Var(r, "name")
		if err := s.SetPaused(r.Context(), name, paused); err != nil {
			return err
		}
		return web.Encode(w, http.StatusOK, map[string]any{"name": name, "paused": paused})
	})
}

// HandleTrigger serves POST /schedules/{name}/trigger: 201 with the id of
// the task enqueued now (the schedule's occurrences go on unchanged).
func (s *Scheduler) HandleTrigger() http.Handler {
	return web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		name := web.Var(r, "name")
		sc, err := s.find(name)
		if err != nil {
			return err
		}
		id, err := s.Trigger(r.Context(), name)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/queues/"+sc.Queue+"/tasks/"+id)
		return web.Encode(w, http.StatusCreated, map[string]any{"schedule": name, "queue": sc.Queue, "id": id})
	})
}
