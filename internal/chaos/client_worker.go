package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// runWorker is a queue worker: it claims -count tasks at a time with a
// -visibility timeout, "works" -work on each, and acks it. Its record is a
// line per event, written straight to the file (no buffer), so a kill -9
// loses nothing it did:
//
//	c <id> <attempt>   claimed
//	h <id> <attempt>   handled: the work is done (written before the ack)
//	a <id> <status>    the ack's answer (204, or 409 for a stale receipt)
func runWorker(ctx context.Context, args []string, stdout io.Writer) error {
	fs, targetsFlag, out := clientFlags("worker")
	queue := fs.String("queue", "chaos", "queue")
	name := fs.String("name", "w", "worker name")
	count := fs.Int("count", 5, "tasks per claim")
	visibility := fs.Duration("visibility", 2*time.Second, "visibility timeout")
	work := fs.Duration("work", 20*time.Millisecond, "time spent on each task")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets := splitList(*targetsFlag)
	if len(targets) == 0 {
		return errors.New("need -targets")
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	hc := &http.Client{Timeout: 10 * time.Second}
	fmt.Fprintln(stdout, "ready")
	claimBody, _ := json.Marshal(map[string]any{"worker": *name, "count": *count, "visibilityTimeout": visibility.String(), "wait": "1s"})
	claim := string(claimBody)
	for k := 0; ctx.Err() == nil; k++ {
		base := targets[k%len(targets)] + "/queues/" + *queue
		var got struct {
			Tasks []struct {
				ID      string `json:"id"`
				Receipt string `json:"receipt"`
				Attempt int    `json:"attempt"`
			} `json:"tasks"`
		}
		if status, err := doJSON(ctx, hc, "POST", base+"/claim", claim, "", &got); err != nil || status != http.StatusOK {
			_ = sleep(ctx, 200*time.Millisecond)
			continue
		}
		for _, t := range got.Tasks {
			if _, err := fmt.Fprintf(f, "c %s %d\n", t.ID, t.Attempt); err != nil {
				return err
			}
		}
		for _, t := range got.Tasks {
			if sleep(ctx, *work) != nil {
				break
			}
			if _, err := fmt.Fprintf(f, "h %s %d\n", t.ID, t.Attempt); err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"receipt": t.Receipt})
			status, _ := doJSON(ctx, hc, "POST", base+"/tasks/"+t.ID+"/ack", string(body), "", nil)
			if _, err := fmt.Fprintf(f, "a %s %d\n", t.ID, status); err != nil {
				return err
			}
		}
	}
	return nil
}

// workerLog is a worker's record, read back by the scenario.
type workerLog struct {
	handled []string // task ids, once per handling (duplicates included)
	acked   int      // acks answered 204
	stale   int      // acks answered 409 (the task was redelivered meanwhile)
	// held is how many claimed tasks had no ack answer yet, unhandled how
	// many were not even worked on: when the worker was killed, the tasks
	// it was in the middle of (unhandled ones were surely not acked).
	held, unhandled int
}

func readWorkerLog(path string) (workerLog, error) {
	var w workerLog
	b, err := os.ReadFile(path)
	if err != nil {
		return w, err
	}
	open, todo := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		switch f[0] {
		case "c":
			open[f[1]], todo[f[1]] = true, true
		case "h":
			w.handled = append(w.handled, f[1])
			delete(todo, f[1])
		case "a":
			delete(open, f[1])
			switch f[2] {
			case "204":
				w.acked++
			case "409":
				w.stale++
			}
		}
	}
	w.held, w.unhandled = len(open), len(todo)
	return w, nil
}
