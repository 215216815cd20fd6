package cache

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redlane/redlane/internal/errdefs"
	"github.com/redlane/redlane/internal/lock"
)

// warmBatch is how many records one warming step loads (one Redis round
// trip and at most one database query).
const warmBatch = 100

const warmLeaseTTL = 15 * time.Second

// warmLockName is the internal/lock name that makes a warm job run once
// across pods (its keys belong to the lock package: <prefix>lock:{cache-warm}).
const warmLockName = "cache-warm"

// ErrWarmRunning means a warm job holds the lease, on this pod or another:
// a conflict ("warm-running") worth retrying in a second.
var ErrWarmRunning = &errdefs.Error{
	Kind:       errdefs.KindConflict,
	Code:       "warm-running",
	Detail:     "A cache warm job is already running; see GET /cache/warm.",
	RetryAfter: time.Second,
}

// WarmStatus is the progress of the last warm job, as seen by every pod.
type WarmStatus struct {
	State      string    `json:"state"` // idle, running, done, failed
	Namespace  string    `json:"namespace,omitempty"`
	Source     string    `json:"source,omitempty"` // "ids" or "top N"
	Pod        string    `json:"pod,omitempty"`
	Total      int64     `json:"total"`
	Loaded     int64     `json:"loaded"`
	Missing    int64     `json:"missing"`
	Errors     int64     `json:"errors"`
	LastError  string    `json:"last_error,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// WarmRequest selects what to warm: explicit ids, or the first Top records.
type WarmRequest struct {
	IDs []string
	Top int
	// TopIDs lists the first n ids of the namespace, for Top.
	TopIDs func(ctx context.Context, n int) ([]string, error)
}

type warmer struct {
	c     *Cache
	locks *lock.Locker
	pod   string
	mu    sync.Mutex
	local WarmStatus // this pod's view, used when Redis cannot be read
}

func newWarmer(c *Cache, locks *lock.Locker) *warmer {
	pod, _ := os.Hostname()
	return &warmer{c: c, locks: locks, pod: pod + "/" + strconv.Itoa(os.Getpid()), local: WarmStatus{State: "idle"}}
}

// Warm starts a background job that loads the requested records into the
// cache, unless one is running on any pod (ErrWarmRunning). Any other error
// is errdefs unavailable: Redis could not take the job.
func (c *Cache) Warm(ctx context.Context, ns *Namespace, req WarmRequest) (WarmStatus, error) {
	w := c.warm
	lease, err := w.locks.Acquire(ctx, warmLockName, warmLeaseTTL, 0)
	if errors.Is(err, lock.ErrTimeout) {
		return WarmStatus{}, ErrWarmRunning
	}
	if err != nil {
		return WarmStatus{}, errdefs.Unavailable("Redis", err)
	}
	st := WarmStatus{State: "running", Namespace: ns.name, Source: "ids", Pod: w.pod, Total: int64(len(req.IDs)), StartedAt: time.Now().UTC()}
	if req.Top > 0 {
		st.Source, st.Total = "top "+strconv.Itoa(req.Top), int64(req.Top)
	}
	w.publish(ctx, st)
	if !c.bg.run(func(bctx context.Context) { w.run(bctx, ns, req, lease, st) }) {
		_ = lease.Release(ctx)
		return WarmStatus{}, errdefs.Unavailable("The cache", errors.New("shutting down"))
	}
	return st, nil
}

func (w *warmer) run(ctx context.Context, ns *Namespace, req WarmRequest, lease *lock.Lease, st WarmStatus) {
	c := w.c
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		st.FinishedAt = time.Now().UTC()
		w.publish(rctx, st)
		_ = lease.Release(rctx)
		c.log.Info("cache warm finished", "state", st.State, "loaded", st.Loaded, "total", st.Total, "errors", st.Errors)
	}()
	fail := func(err error) {
		st.State, st.LastError = "failed", err.Error()
	}
	// Warm reads are counted apart ("warm:<ns>") so they do not skew hit rates.
	ns = &Namespace{name: ns.name, load: ns.load, stats: c.stats.ns("warm:" + ns.name)}
	ids := req.IDs
	if req.Top > 0 {
		var err error
		if ids, err = req.TopIDs(ctx, req.Top); err != nil {
			fail(err)
			return
		}
		st.Total = int64(len(ids))
	}
	for start := 0; start < len(ids); start += warmBatch {
		if ctx.Err() != nil {
			fail(errors.New("stopped: server shutting down"))
			return
		}
		if err := lease.Extend(ctx, warmLeaseTTL); err != nil {
			fail(errors.New("lost the warm lease (Redis unavailable or expired)"))
			return
		}
		batch := ids[start:min(start+warmBatch, len(ids))]
		res, err := c.GetMany(ctx, ns, batch)
		if err != nil {
			st.Errors += int64(len(batch))
			st.LastError = err.Error()
		} else {
			for _, r := range res {
				if r.Found {
					st.Loaded++
				} else {
					st.Missing++
				}
			}
		}
		w.publish(ctx, st)
	}
	st.State = "done"
}

// publish records st in Redis for every pod, and locally.
func (w *warmer) publish(ctx context.Context, st WarmStatus) {
	w.mu.Lock()
	w.local = st
	w.mu.Unlock()
	c := w.c
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	pipe := c.rc.TxPipeline()
	pipe.HSet(rctx, c.k.warmStatus(), map[string]any{
		"state": st.State, "namespace": st.Namespace, "source": st.Source, "pod": st.Pod,
		"total": st.Total, "loaded": st.Loaded, "missing": st.Missing, "errors": st.Errors, "last_error": st.LastError,
		"started_at": st.StartedAt.Format(time.RFC3339Nano), "finished_at": formatTime(st.FinishedAt),
	})
	pipe.PExpire(rctx, c.k.warmStatus(), 24*time.Hour)
	_, _ = pipe.Exec(rctx)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// WarmStatus returns the last warm job's progress from Redis (any pod's
// job), or this pod's own view when Redis cannot be read.
func (c *Cache) WarmStatus(ctx context.Context) WarmStatus {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	f, err := c.rc.HGetAll(rctx, c.k.warmStatus()).Result()
	if err != nil || len(f) == 0 {
		c.warm.mu.Lock()
		defer c.warm.mu.Unlock()
		return c.warm.local
	}
	n := func(k string) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	t := func(k string) time.Time { v, _ := time.Parse(time.RFC3339Nano, f[k]); return v }
	return WarmStatus{State: f["state"], Namespace: f["namespace"], Source: f["source"], Pod: f["pod"],
		Total: n("total"), Loaded: n("loaded"), Missing: n("missing"), Errors: n("errors"), LastError: f["last_error"],
		StartedAt: t("started_at"), FinishedAt: t("finished_at")}
}
