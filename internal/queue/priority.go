package queue

import (
	"cmp"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"
)

// MaxClaimQueues bounds how many queues one claim may read from.
const MaxClaimQueues = 10

// Priority is one queue of a claim across queues, with its weight (1-1000).
type Priority struct {
	Queue  string
	Weight int
}

// Priorities says which queues a claim reads from and in what order.
// Weighted (the default): each attempt orders the queues at random, each
// next queue picked with a probability proportional to its weight among
// those left, so while every queue has tasks they are served in the ratio
// of their weights and none starves. Strict: always by weight, heaviest
// first (ties by name): a lighter queue is served only when every heavier
// one is empty.
type Priorities struct {
	Queues []Priority
	Strict bool
}

func (p Priorities) validate() error {
	if len(p.Queues) == 0 || len(p.Queues) > MaxClaimQueues {
		return invalid("queues", fmt.Sprintf("must name 1-%d queues", MaxClaimQueues))
	}
	seen := map[string]bool{}
	for _, q := range p.Queues {
		switch {
		case !queueName.MatchString(q.Queue):
			return invalid("queues", fmt.Sprintf("%q: %s", q.Queue, queueNameRule))
		case seen[q.Queue]:
			return invalid("queues", fmt.Sprintf("%q is named twice", q.Queue))
		case q.Weight < 1 || q.Weight > 1000:
			return invalid("queues", fmt.Sprintf("%q: weight must be 1-1000", q.Queue))
		}
		seen[q.Queue] = true
	}
	return nil
}

// order is the order in which one claim attempt reads the queues.
func (p Priorities) order(r *mrand.Rand) []string {
	qs := slices.Clone(p.Queues)
	if p.Strict {
		slices.SortFunc(qs, func(a, b Priority) int {
			return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.Queue, b.Queue))
		})
	} else {
		total := 0
		for _, q := range qs {
			total += q.Weight
		}
		for i := range qs {
			n := r.IntN(total)
			j := i
			for ; n >= qs[j].Weight; j++ {
				n -= qs[j].Weight
			}
			qs[i], qs[j] = qs[j], qs[i]
			total -= qs[i].Weight
		}
	}
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = q.Queue
	}
	return out
}

// ClaimPriorities claims up to n tasks from several queues in the order
// p gives, each Delivery naming its queue; otherwise as Claim (a paused
// queue is passed over).
func (b *Broker) ClaimPriorities(ctx context.Context, p Priorities, worker string, n int, visibility, wait time.Duration) ([]Delivery, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if err := validateClaim(p.Queues[0].Queue, worker, n, visibility, wait); err != nil {
		return nil, err
	}
	return b.waitFor(ctx, wait, func() ([]Delivery, time.Duration, error) {
		var got []Delivery
		wake := time.Duration(-1)
		for _, q := range p.order(b.rand()) {
			d, w, err := b.claimOnce(ctx, q, worker, n-len(got), visibility)
			if err != nil {
				return nil, 0, fmt.Errorf("claiming from %q: %w", q, err)
			}
			got = append(got, d...)
			if len(got) == n {
				break
			}
			if w >= 0 && (wake < 0 || w < wake) {
				wake = w
			}
		}
		return got, wake, nil
	})
}

// rand is the Broker's source for weighted orders (Rand, or a shared
// random one).
func (b *Broker) rand() *mrand.Rand {
	if b.Rand != nil {
		return b.Rand
	}
	return globalRand
}

// globalRand draws from the runtime's goroutine-safe source.
var globalRand = mrand.New(runtimeSource{})

type runtimeSource struct{}

func (runtimeSource) Uint64() uint64 { return mrand.Uint64() }
