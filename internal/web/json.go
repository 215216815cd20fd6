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
// request that declares no body (Content-Length 0) gets the zero T.
func DecodeOptional[T any](r *http.Request) (T, error) {
	if r.ContentLength == 0 {
		var zero T
		return zero, nil
	}
	return Decode[T](r)
}

// Decode reads a JSON body into T strictly (unknown fields, trailing data and
// wrong types are 400s naming the field; a body over the server limit is
// 413) and then runs T's Valid method, answering 422 with every bad field.
func Decode[T any](r *http.Request) (T, error) {
	var v T
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return v, Errorf(http.StatusUnsupportedMediaType, "unsupported-media-type", "Content-Type must be application/json, got %q.", ct)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return v, Errorf(http.StatusRequestEntityTooLarge, "body-too-large", "The request body is larger than %d bytes.", mbe.Limit)
		}
		return v, Errorf(http.StatusBadRequest, "bad-request", "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return v, Errorf(http.StatusBadRequest, "bad-request", "The request body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err)
	}
	if dec.More() {
		return v, Errorf(http.StatusBadRequest, "bad-request", "The request body has data after the JSON value.")
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
