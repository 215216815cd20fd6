package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// publishRecord is one POST /chat/message as the publisher saw it.
type publishRecord struct {
	K      int    `json:"k"`
	Room   string `json:"room"`
	Target string `json:"target"`
	At     int64  `json:"t"` // unix ms at send
	Ms     int64  `json:"d"` // latency
	Status int    `json:"s"` // 0: no answer
	ID     string `json:"id,omitempty"`
	Err    string `json:"e,omitempty"` // body or error of a failure (cut)
}

// runPublisher posts -rate messages per second, round robin over rooms and
// targets, open loop (a slow answer does not slow the schedule), until
// SIGINT or -duration; it waits for answers in flight before writing.
func runPublisher(ctx context.Context, args []string, stdout io.Writer) error {
	fs, targetsFlag, out := clientFlags("publish")
	rooms := fs.String("rooms", "", "comma-separated rooms")
	rate := fs.Int("rate", 20, "messages per second in all")
	duration := fs.Duration("duration", 5*time.Minute, "longest run")
	timeout := fs.Duration("timeout", 5*time.Second, "request timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets, roomList := splitList(*targetsFlag), splitList(*rooms)
	if len(targets) == 0 || len(roomList) == 0 || *rate < 1 {
		return errors.New("need -targets, -rooms and -rate >= 1")
	}
	hc := &http.Client{Timeout: *timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	w := newLineWriter(*out)
	fmt.Fprintln(stdout, "ready")

	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(*rate)
	start := time.Now()
	for k := 0; ; k++ {
		if sleep(ctx, time.Until(start.Add(time.Duration(k)*interval))) != nil {
			break
		}
		room, target := roomList[k%len(roomList)], targets[k%len(targets)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.write(publish(hc, k, room, target))
		}()
	}
	wg.Wait()
	return w.close()
}

func publish(hc *http.Client, k int, room, target string) publishRecord {
	rec := publishRecord{K: k, Room: room, Target: target, At: time.Now().UnixMilli()}
	body, _ := json.Marshal(map[string]string{"room": room, "message": fmt.Sprintf("chaos %d", k)})
	start := time.Now()
	resp, err := hc.Post(target+"/chat/message", "application/json", bytes.NewReader(body))
	rec.Ms = time.Since(start).Milliseconds()
	if err != nil {
		rec.Err = cut(err.Error())
		return rec
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	rec.Status = resp.StatusCode
	if resp.StatusCode/100 != 2 {
		rec.Err = cut(string(b))
		return rec
	}
	var ans struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &ans) != nil || ans.ID == "" {
		rec.Err = cut("2xx without an id: " + string(b))
		return rec
	}
	rec.ID = ans.ID
	return rec
}

func cut(s string) string {
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

// lineWriter appends JSON lines to a file from many goroutines.
type lineWriter struct {
	mu  sync.Mutex
	f   *os.File
	bw  *bufio.Writer
	err error
}

func newLineWriter(path string) *lineWriter {
	w := &lineWriter{}
	w.f, w.err = os.Create(path)
	if w.err == nil {
		w.bw = bufio.NewWriter(w.f)
	}
	return w
}

func (w *lineWriter) write(v any) {
	b, err := json.Marshal(v)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if err != nil {
		w.err = err
		return
	}
	_, _ = w.bw.Write(b)
	w.err = w.bw.WriteByte('\n')
}

func (w *lineWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	w.f = nil
	return w.err
}

// readLines decodes a file of JSON lines, one T per line.
func readLines[T any](path string) ([]T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, v)
	}
	return out, nil
}
