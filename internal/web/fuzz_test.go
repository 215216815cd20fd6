package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/redlane/redlane/internal/web"
)

// FuzzCheckJSON compares CheckJSON with encoding/json on any document that
// encoding/json accepts: when CheckJSON finds nothing wrong, the document
// has no key twice in an object (the top level ignoring case), and every
// string encoding/json decodes from it is valid UTF-8 without NUL and
// without a U+FFFD that the document did not spell. It never panics or
// loops, whatever the input.
func FuzzCheckJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc []byte) {
		field, problem := web.CheckJSON(doc)
		if !json.Valid(doc) {
			return
		}
		if problem != "" {
			if field == "" {
				t.Fatalf("CheckJSON(%q) = %q without a field", doc, problem)
			}
			return
		}
		spelled := bytes.ContainsRune(doc, utf8.RuneError) || bytes.Contains(bytes.ToLower(doc), []byte(`\ufffd`))
		dec := json.NewDecoder(bytes.NewReader(doc))
		type frame struct {
			object bool
			keys   map[string]bool
			key    bool // the next string in an object is a key
		}
		var stack []*frame
		for {
			tok, err := dec.Token()
			if err != nil {
				return
			}
			var top *frame
			if len(stack) > 0 {
				top = stack[len(stack)-1]
			}
			switch v := tok.(type) {
			case json.Delim:
				switch v {
				case '{', '[':
					if top != nil && top.object {
						top.key = true
					}
					stack = append(stack, &frame{object: v == '{', keys: map[string]bool{}, key: v == '{'})
				default:
					stack = stack[:len(stack)-1]
				}
				continue
			case string:
				if strings.ContainsRune(v, 0) || !utf8.ValidString(v) || strings.ContainsRune(v, utf8.RuneError) && !spelled {
					t.Fatalf("CheckJSON(%q) passed the string %q", doc, v)
				}
				if top != nil && top.object && top.key {
					k := v
					if len(stack) == 1 {
						k = strings.ToLower(strings.ToUpper(k))
					}
					if top.keys[k] {
						t.Fatalf("CheckJSON(%q) passed the key %q twice", doc, v)
					}
					top.keys[k] = true
					top.key = false
					continue
				}
			}
			if top != nil && top.object {
				top.key = true
			}
		}
	})
}

type fuzzBody struct {
	Name  string          `json:"name"`
	Count *int            `json:"count"`
	Tags  []string        `json:"tags"`
	Raw   json.RawMessage `json:"raw"`
}

func (b fuzzBody) Valid() map[string]string {
	if b.Count != nil && *b.Count < 0 {
		return map[string]string{"count": "must not be negative"}
	}
	return nil
}

// FuzzDecode sends any body through Decode and DecodeOptional: the answer
// is 200 or a 4xx problem, never a panic or a 5xx, and a body accepted is
// a JSON object that CheckJSON passes.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, optional bool) {
		h := web.Handle(func(w http.ResponseWriter, r *http.Request) error {
			var err error
			if optional {
				_, err = web.DecodeOptional[fuzzBody](r)
			} else {
				_, err = web.Decode[fuzzBody](r)
			}
			if err != nil {
				return err
			}
			w.WriteHeader(http.StatusOK)
			return nil
		})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/x", bytes.NewReader(body)))
		switch {
		case rec.Code == 200:
			trimmed := bytes.TrimSpace(body)
			if len(trimmed) == 0 && optional {
				return
			}
			if _, problem := web.CheckJSON(trimmed); len(trimmed) == 0 || trimmed[0] != '{' || problem != "" {
				t.Fatalf("accepted %q", body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%q: %d without a problem", body, rec.Code)
			}
		default:
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		}
	})
}
