package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// api is the runner's own HTTP client, for setup and reading results.
var api = &http.Client{Timeout: 10 * time.Second}

// login signs in users user1..userN on in and writes their tokens to a
// file for the HTTP load (-tokens).
func (e *Env) login(ctx context.Context, in *Redlane, n int) (string, error) {
	var tokens []string
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf(`{"username":"user%d","password":"password123"}`, i)
		var ans struct {
			Token string `json:"session_token"`
		}
		status, err := call(ctx, "POST", in.URL+"/auth/login", body, &ans)
		if err != nil || status != http.StatusOK || ans.Token == "" {
			return "", fmt.Errorf("login user%d: status %d: %v", i, status, err)
		}
		tokens = append(tokens, ans.Token)
	}
	path := e.path("tokens")
	return path, os.WriteFile(path, []byte(strings.Join(tokens, "\n")), 0o600)
}

// call is the runner's request, as the admin (dead letters are admin-only).
func call(ctx context.Context, method, u, body string, v any) (int, error) {
	return doJSON(ctx, api, method, u, body, adminToken, v)
}

// doJSON sends a request with an optional JSON body (and a bearer token
// when set) and decodes a 2xx answer into v when v is not nil; it returns
// the status, 0 when there was no answer.
func doJSON(ctx context.Context, hc *http.Client, method, u, body, token string, v any) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 == 2 && v != nil {
		return resp.StatusCode, json.Unmarshal(b, v)
	}
	return resp.StatusCode, nil
}

// history reads every message id of room through GET /chat/history,
// oldest first, from the first instance that answers.
func history(ctx context.Context, insts []*Redlane, room string) ([]string, error) {
	var lastErr error
	for _, in := range insts {
		ids, err := historyFrom(ctx, in, room)
		if err == nil {
			return ids, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func historyFrom(ctx context.Context, in *Redlane, room string) ([]string, error) {
	var ids []string
	before := ""
	for {
		u := in.URL + "/chat/history?limit=200&room=" + url.QueryEscape(room)
		if before != "" {
			u += "&before=" + url.QueryEscape(before)
		}
		var page struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
			NextBefore string `json:"nextBefore"`
		}
		status, err := call(ctx, "GET", u, "", &page)
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("history of %s from %s: status %d: %v", room, in.Name, status, err)
		}
		chunk := make([]string, len(page.Messages))
		for i, m := range page.Messages {
			chunk[i] = m.ID
		}
		ids = append(chunk, ids...)
		if page.NextBefore == "" {
			return ids, nil
		}
		before = page.NextBefore
	}
}

// probePublish publishes to room through in until it has succeeded for
// steady without a failure, or budget runs out; it returns when writes
// first succeeded for good (zero when they never did).
func probePublish(ctx context.Context, in *Redlane, room string, steady, budget time.Duration) time.Time {
	deadline := time.Now().Add(budget)
	var since time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		status, err := call(pctx, "POST", in.URL+"/chat/message", fmt.Sprintf(`{"room":%q,"message":"probe"}`, room), nil)
		cancel()
		switch {
		case err == nil && status == http.StatusOK:
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) >= steady {
				return since
			}
		default:
			since = time.Time{}
		}
		_ = sleep(ctx, 200*time.Millisecond)
	}
	return time.Time{}
}
