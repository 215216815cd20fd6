package config

import "time"

// LongPollLimit bounds how long a request may wait server-side (a lock
// wait, a queue claim): 25s, and under 80% of the write timeout so the
// answer is never cut off.
func (s Server) LongPollLimit() time.Duration {
	return min(25*time.Second, s.WriteTimeout.Duration*8/10)
}
