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
		return fmt.Errorf("%w: %s", ErrInvalid, queueNameRule)
	}
	return nil
}

func validateTask(queue, id string) error {
	if err := validateQueue(queue); err != nil {
		return err
	}
	if !taskID.MatchString(id) {
		return fmt.Errorf("%w: task id must be 24 hex digits", ErrNotFound)
	}
	return nil
}

func validateEnqueue(queue string, payload json.RawMessage, o EnqueueOptions) error {
	if err := validateQueue(queue); err != nil {
		return err
	}
	switch {
	case len(payload) == 0 || !json.Valid(payload):
		return fmt.Errorf("%w: payload must be JSON", ErrInvalid)
	case len(payload) > MaxPayloadBytes:
		return fmt.Errorf("%w: payload must be at most %d bytes", ErrInvalid, MaxPayloadBytes)
	case o.Delay < 0 || o.Delay > MaxDelay:
		return fmt.Errorf("%w: delay must be between 0 and %s", ErrInvalid, MaxDelay)
	case o.MaxAttempts < 1 || o.MaxAttempts > MaxAttemptsLimit:
		return fmt.Errorf("%w: maxAttempts must be 1-%d", ErrInvalid, MaxAttemptsLimit)
	case len(o.UniqueKey) > MaxUniqueKeyLen:
		return fmt.Errorf("%w: uniqueKey must be at most %d bytes", ErrInvalid, MaxUniqueKeyLen)
	}
	return nil
}

func validateClaim(queue, worker string, n int, visibility, wait time.Duration) error {
	if err := validateQueue(queue); err != nil {
		return err
	}
	switch {
	case len(worker) > 100:
		return fmt.Errorf("%w: worker must be at most 100 bytes", ErrInvalid)
	case n < 1 || n > MaxClaim:
		return fmt.Errorf("%w: count must be 1-%d", ErrInvalid, MaxClaim)
	case visibility < MinVisibility || visibility > MaxVisibility:
		return fmt.Errorf("%w: visibility timeout must be between %s and %s", ErrInvalid, MinVisibility, MaxVisibility)
	case wait < 0:
		return fmt.Errorf("%w: wait must not be negative", ErrInvalid)
	}
	return nil
}
