package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Parse decodes a YAML or JSON document strictly: duplicate keys, unknown
// fields and wrong types are errors that name their field path. It applies
// neither environment overrides nor defaults.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, Errors{{Path: "(document)", Message: strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")}}
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return nil, Errors{{Path: "(document)", Message: err.Error()}}
	}
	if _, ok := generic.(map[string]any); !ok && generic != nil {
		return nil, Errors{{Path: "(document)", Message: "must be a mapping with apiVersion, kind and spec"}}
	}
	var errs Errors
	checkShape(generic, reflect.TypeOf(Config{}), "", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, Errors{{Path: "(document)", Message: err.Error()}}
	}
	return c, nil
}

// Load reads the document at path (none when path is empty), applies the
// environment, then defaults, then validates.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		if c, err = Parse(data); err != nil {
			return nil, err
		}
	}
	if err := ApplyEnv(c, getenv); err != nil {
		return nil, err
	}
	SetDefaults(c)
	if err := Validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

var durationType = reflect.TypeOf(Duration{})

// checkShape walks the generic JSON value against the Go type and records
// every unknown field and type mismatch with its path, which encoding/json
// alone would report one at a time and without a path.
func checkShape(v any, t reflect.Type, path string, errs *Errors) {
	if v == nil {
		return
	}
	add := func(format string, args ...any) {
		p := path
		if p == "" {
			p = "(document)"
		}
		*errs = append(*errs, FieldError{Path: p, Message: fmt.Sprintf(format, args...)})
	}
	if t == durationType {
		s, ok := v.(string)
		if !ok {
			add("must be a duration string such as \"300s\" or \"5m\", got %s", jsonKind(v))
			return
		}
		if _, err := time.ParseDuration(s); err != nil {
			add("must be a duration such as \"300s\" or \"5m\", got %q", s)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			add("must be a mapping, got %s", jsonKind(v))
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			f, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Path: join(path, k), Message: "unknown field" + suggest(k, fields)})
				continue
			}
			checkShape(m[k], f.Type, join(path, k), errs)
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			add("must be a list, got %s", jsonKind(v))
			return
		}
		for i, e := range a {
			checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			add("must be a mapping, got %s", jsonKind(v))
			return
		}
		for _, k := range sortedKeys(m) {
			checkShape(m[k], t.Elem(), join(path, k), errs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			add("must be a string, got %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			add("must be true or false, got %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			add("must be an integer, got %s", jsonKind(v))
		}
	case reflect.Float64:
		if _, ok := v.(float64); !ok {
			add("must be a number, got %s", jsonKind(v))
		}
	}
}

// jsonFields maps json names to struct fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		out[name] = f
	}
	return out
}

// suggest names a known field that differs from k only by case, the most
// common typo in hand-written YAML.
func suggest(k string, fields map[string]reflect.StructField) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case float64:
		return fmt.Sprintf("number %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return "null"
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// AsErrors returns the field errors inside err, if it carries any.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}
