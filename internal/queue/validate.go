package queue

import (
	"encoding/json"
	"fmt"
	"time"
)

// queueNameRule is what a queue name may be, for errors and 400s alike.
const queueNameRule = "queue name must be 1-100 of A-Z a-z 0-9 _ . : -"

func validateQueue(queue string) error {
	if !queueName.MatchString(queue) {
		return invalid("name", queueNameRule)
	}
	return nil
}

func validateTask(queue, id string) error {
	if err := validateQueue(queue); err != nil {
		return err
	}
	if !taskID.MatchString(id) {
		return ErrNotFound
	}
	return nil
}

func validateEnqueue(queue string, payload json.RawMessage, o EnqueueOptions) error {
	if err := validateQueue(queue); err != nil {
		return err
	}
	switch {
	case len(payload) == 0 || !json.Valid(payload):
		return invalid("payload", "must be JSON")
	case len(payload) > MaxPayloadBytes:
		return invalid("payload", fmt.Sprintf("must be at most %d bytes", MaxPayloadBytes))
	case o.Delay < 0 || o.Delay > MaxDelay:
		return invalid("delay", "must be between 0 and "+MaxDelay.String())
	case o.MaxAttempts < 1 || o.MaxAttempts > MaxAttemptsLimit:
		return invalid("maxAttempts", fmt.Sprintf("must be 1-%d", MaxAttemptsLimit))
	case len(o.UniqueKey) > MaxUniqueKeyLen:
		return invalid("uniqueKey", fmt.Sprintf("must be at most %d bytes", MaxUniqueKeyLen))
	}
	return nil
}

func validateClaim(queue, worker string, n int, visibility, wait time.Duration) error {
	if err := validateQueue(queue); err != nil {
		return err
	}
	switch {
	case len(worker) > 100:
		return invalid("worker", "must be at most 100 bytes")
	case n < 1 || n > MaxClaim:
		return invalid("count", fmt.Sprintf("must be 1-%d", MaxClaim))
	case visibility < MinVisibility || visibility > MaxVisibility:
		return invalid("visibilityTimeout", fmt.Sprintf("must be between %s and %s", MinVisibility, MaxVisibility))
	case wait < 0:
		return invalid("wait", "must not be negative")
	}
	return nil
}
