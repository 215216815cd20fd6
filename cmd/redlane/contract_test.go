package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// contract checks real answers of a running server against the OpenAPI
// document that server serves at /openapi.json, and records which
// documented operations were exercised.
type contract struct {
	t     *testing.T
	s     *server
	v     validator.Validator
	model *v3.Document
	mu    sync.Mutex
	seen  map[string]map[int]bool // "GET /path/{x}" -> statuses seen
}

func newContract(t *testing.T, s *server) *contract {
	t.Helper()
	r := s.do("GET", "/openapi.json", "")
	if r.Status != 200 {
		t.Fatalf("GET /openapi.json = %d", r.Status)
	}
	doc, err := libopenapi.NewDocument(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	return &contract{t: t, s: s, v: v, model: &model.Model, seen: map[string]map[int]bool{}}
}

// call sends a request the document says is valid: the request itself is
// validated (parameters, body, security), then the answer (status, headers,
// body), which must be a success the operation documents (a 2xx): that an
// operation also documents 500 does not make a 500 pass. It returns the
// answer.
func (c *contract) call(method, path, body string, headers ...string) response {
	c.t.Helper()
	r := c.exchange(true, method, path, body, headers...)
	if ok := c.successes(method, path); !ok[r.Status] {
		c.t.Errorf("%s %s = %d %s, want a documented success (%v)", method, path, r.Status, truncate(r.Body, 300), keys(ok))
	}
	return r
}

// expect is call for an answer other than the operation's success: the
// request is valid and the answer must be exactly status.
func (c *contract) expect(status int, method, path, body string, headers ...string) response {
	c.t.Helper()
	r := c.exchange(true, method, path, body, headers...)
	if r.Status != status {
		c.t.Errorf("%s %s = %d %s, want %d", method, path, r.Status, truncate(r.Body, 300), status)
	}
	return r
}

// successes are the 2xx statuses the document gives the operation.
func (c *contract) successes(method, path string) map[int]bool {
	req, _ := http.NewRequest(method, c.s.URL+path, nil)
	item, _, _ := paths.FindPath(req, c.model, nil)
	out := map[int]bool{}
	if item == nil {
		return out
	}
	op := item.GetOperations().GetOrZero(strings.ToLower(method))
	if op == nil || op.Responses == nil || op.Responses.Codes == nil {
		return out
	}
	for code := range op.Responses.Codes.KeysFromOldest() {
		if n, err := strconv.Atoi(code); err == nil && n >= 200 && n < 300 {
			out[n] = true
		}
	}
	return out
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// bad sends a request that breaks the document on purpose (a bad
// parameter, a missing token, malformed JSON): only the answer is
// validated, and it must be a documented problem.
func (c *contract) bad(method, path, body string, headers ...string) response {
	c.t.Helper()
	r := c.exchange(false, method, path, body, headers...)
	if r.Status < 400 || r.Header.Get("Content-Type") != "application/problem+json" {
		c.t.Errorf("%s %s = %d %s, want a problem", method, path, r.Status, r.Header.Get("Content-Type"))
	}
	return r
}

func (c *contract) exchange(validRequest bool, method, path, body string, headers ...string) response {
	c.t.Helper()
	newReq := func() *http.Request {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, c.s.URL+path, rd)
		if err != nil {
			c.t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		return req
	}
	r := c.s.do(method, path, body, headers...)

	what := method + " " + path
	if validRequest {
		if ok, errs := c.v.ValidateHttpRequest(newReq()); !ok {
			c.t.Errorf("%s: the request breaks the document:%s", what, describe(errs))
		}
	}
	check := &http.Response{StatusCode: r.Status, Header: r.Header, Body: io.NopCloser(bytes.NewReader(r.Body)), Request: newReq()}
	if ok, errs := c.v.ValidateHttpResponse(newReq(), check); !ok {
		c.t.Errorf("%s = %d %s: the answer breaks the document:%s", what, r.Status, truncate(r.Body, 300), describe(errs))
	}
	c.record(newReq(), r.Status)
	return r
}

// websocket opens a WebSocket and validates the handshake's answer (101,
// or the problem that refused it) like any other; the caller closes the
// connection.
func (c *contract) websocket(path string, headers ...string) (*websocket.Conn, response) {
	c.t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	url := "ws" + strings.TrimPrefix(c.s.URL, "http") + path
	ws, resp, err := websocket.DefaultDialer.Dial(url, h)
	if resp == nil {
		c.t.Fatalf("WS %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	r := response{resp.StatusCode, resp.Header, b}
	req, _ := http.NewRequest("GET", c.s.URL+path, nil)
	check := &http.Response{StatusCode: r.Status, Header: r.Header, Body: io.NopCloser(bytes.NewReader(b)), Request: req}
	if ok, errs := c.v.ValidateHttpResponse(req, check); !ok {
		c.t.Errorf("WS %s = %d %s: the answer breaks the document:%s", path, r.Status, truncate(b, 300), describe(errs))
	}
	c.record(req, r.Status)
	return ws, r
}

// eventStream opens an event stream and validates its answer like any
// other: for a 200, the headers and the stream up to its first event (the
// welcome), then the connection is dropped; else the problem.
func (c *contract) eventStream(path string, headers ...string) response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.s.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b []byte
	if resp.StatusCode == 200 {
		br := bufio.NewReader(resp.Body)
		for !bytes.Contains(b, []byte("event: welcome\n")) || !bytes.HasSuffix(b, []byte("\n\n")) {
			line, err := br.ReadBytes('\n')
			b = append(b, line...)
			if err != nil {
				c.t.Fatalf("GET %s: %v after %q", path, err, b)
			}
		}
	} else {
		b, _ = io.ReadAll(resp.Body)
	}
	r := response{resp.StatusCode, resp.Header, b}
	check := &http.Response{StatusCode: r.Status, Header: r.Header, Body: io.NopCloser(bytes.NewReader(b)), Request: req}
	if ok, errs := c.v.ValidateHttpResponse(req, check); !ok {
		c.t.Errorf("GET %s = %d %s: the answer breaks the document:%s", path, r.Status, truncate(b, 300), describe(errs))
	}
	c.record(req, r.Status)
	return r
}

func (c *contract) record(req *http.Request, status int) {
	c.t.Helper()
	item, _, tpl := paths.FindPath(req, c.model, nil)
	if item == nil {
		c.t.Errorf("%s %s: no documented path matches", req.Method, req.URL.Path)
		return
	}
	key := req.Method + " " + tpl
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[key] == nil {
		c.seen[key] = map[int]bool{}
	}
	c.seen[key][status] = true
}

// requireCoverage fails for every documented operation no call exercised.
func (c *contract) requireCoverage() {
	c.t.Helper()
	var missing []string
	for p, item := range c.model.Paths.PathItems.FromOldest() {
		for m := range item.GetOperations().FromOldest() {
			key := strings.ToUpper(m) + " " + p
			if len(c.seen[key]) == 0 {
				missing = append(missing, key)
			}
		}
	}
	sort.Strings(missing)
	for _, k := range missing {
		c.t.Errorf("documented operation %s was never called by the contract test", k)
	}
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n    " + e.Message)
		if e.Reason != "" && e.Reason != e.Message {
			b.WriteString(": " + e.Reason)
		}
		for _, se := range e.SchemaValidationErrors {
			b.WriteString("\n      at " + se.FieldPath + " (" + se.KeywordLocation + "): " + se.Reason)
		}
	}
	return b.String()
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// field reads a string field of a JSON object answer.
func field(t *testing.T, r response, name string) string {
	t.Helper()
	s, _ := r.JSON(t)[name].(string)
	return s
}
