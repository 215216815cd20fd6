package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/redlane/redlane/internal/errdefs"
)

// Validator is implemented by request types that check their own fields.
// It returns field path -> problem, empty when valid.
type Validator interface {
	Valid() map[string]string
}

// DecodeOptional is Decode for endpoints whose body may be left out: a
// request without a body (none, or only whitespace) gets the zero T. A body
// that is there must be a JSON object like Decode's: `null` is a 400, not
// "no body".
func DecodeOptional[T any](r *http.Request) (T, error) {
	var zero T
	if r.ContentLength == 0 {
		return zero, nil
	}
	body, err := readJSON(r)
	if err != nil {
		return zero, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return zero, nil
	}
	return decodeBody[T](body)
}

// Decode reads a JSON object into T strictly and then runs T's Valid
// method. Answers: 415 for a Content-Type other than JSON; 413 for a body
// over the server limit; 400 naming the field for what no valid request
// holds — an empty body or anything but an object (`null` included),
// malformed JSON, trailing data, unknown fields, wrong types, a key set
// twice, a string with NUL or invalid UTF-8 (CheckJSON); 422 with every
// field Valid finds wrong. Nothing is decoded into T unless the whole body
// passes, so a handler never acts on half of one.
func Decode[T any](r *http.Request) (T, error) {
	body, err := readJSON(r)
	if err != nil {
		var zero T
		return zero, err
	}
	return decodeBody[T](body)
}

// readJSON checks the Content-Type and reads the whole body.
func readJSON(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, Errorf(http.StatusUnsupportedMediaType, "unsupported-media-type", "Content-Type must be application/json, got %q.", ct)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, "body-too-large", "The request body is larger than %d bytes.", mbe.Limit)
		}
		return nil, Errorf(http.StatusBadRequest, "bad-request", "The request body could not be read.")
	}
	return body, nil
}

func decodeBody[T any](body []byte) (T, error) {
	var v T
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return v, Errorf(http.StatusBadRequest, "bad-request", "The request body is empty; send a JSON object.")
	}
	if trimmed[0] != '{' {
		if json.Valid(trimmed) {
			return v, fieldError("body", "must be a JSON object, got "+jsonKind(trimmed[0]))
		}
		return v, decodeError(json.Unmarshal(trimmed, new(any)))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var zero T
		return zero, decodeError(err)
	}
	if dec.More() {
		var zero T
		return zero, Errorf(http.StatusBadRequest, "bad-request", "The request body has data after the JSON value.")
	}
	if field, problem := CheckJSON(trimmed); problem != "" {
		var zero T
		return zero, fieldError(field, problem)
	}
	if val, ok := any(&v).(Validator); ok {
		if fields := val.Valid(); len(fields) > 0 {
			return v, errdefs.InvalidFields(fields)
		}
	} else if val, ok := any(v).(Validator); ok {
		if fields := val.Valid(); len(fields) > 0 {
			return v, errdefs.InvalidFields(fields)
		}
	}
	return v, nil
}

// fieldError is the 400 naming one field of the body and what is wrong with it.
func fieldError(field, problem string) *Error {
	return &Error{Status: http.StatusBadRequest, Slug: "bad-request", Detail: field + " " + problem + ".", Fields: map[string]string{field: problem}}
}

// jsonKind names the JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "true or false"
	}
	return "a number"
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return Errorf(http.StatusBadRequest, "malformed-json", "The body is not valid JSON (at byte %d).", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, "malformed-json", "The body is truncated JSON.")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return Errorf(http.StatusBadRequest, "bad-request", "The body must be a JSON %s.", typ.Type.Kind())
		}
		msg := fmt.Sprintf("must be %s, got %s", jsonTypeName(typ.Type.Kind().String()), typ.Value)
		return &Error{Status: http.StatusBadRequest, Slug: "bad-request", Detail: field + " " + msg + ".", Fields: map[string]string{field: msg}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if field == "" {
			field = `""` // the empty key, named so the answer still names a field
		}
		return &Error{Status: http.StatusBadRequest, Slug: "unknown-field", Detail: fmt.Sprintf("Unknown field %q.", field), Fields: map[string]string{field: "unknown field"}}
	}
	return Errorf(http.StatusBadRequest, "bad-request", "The body could not be decoded: %v.", err)
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	}
	return kind
}

// Encode writes v as JSON with status.
func Encode(w http.ResponseWriter, status int, v any) error {
	b, err := marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// marshal encodes without HTML escaping: responses are JSON, not HTML, and
// "<session_token>" should read as written. It ends with a newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
