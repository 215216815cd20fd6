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

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// Parse decodes a YAML or JSON document strictly: duplicate keys, unknown
// fields and wrong types are errors that name their field path, every one of
// them. It applies neither environment overrides nor defaults.
func Parse(data []byte) (*Config, error) {
	c, dups, dropped := parse(data)
	if errs := append(dups, dropped...); len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// parse is Parse that keeps going. It returns the duplicate keys (the last
// of each wins), then the values it dropped (unknown fields, wrong types),
// and the document without those, so that Load can report the invalid
// values of the rest too. The Config is nil when nothing is usable; the
// reason is then the last error.
func parse(data []byte) (c *Config, dups, dropped Errors) {
	c = &Config{}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil, nil
	}
	dups = duplicateKeys(data)
	fail := func(msg string) (*Config, Errors, Errors) {
		return nil, dups, append(dropped, FieldError{Path: "(document)", Message: msg})
	}
	convert := yaml.YAMLToJSONStrict
	if len(dups) > 0 {
		convert = yaml.YAMLToJSON // duplicates are reported; the strict one would stop at the first
	}
	js, err := convert(data)
	if err != nil {
		return fail(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return fail(err.Error())
	}
	if _, ok := generic.(map[string]any); !ok && generic != nil {
		return fail("must be a mapping with apiVersion, kind and spec")
	}
	checkShape(generic, reflect.TypeOf(Config{}), "", &dropped)
	if js, err = json.Marshal(generic); err != nil {
		return fail(err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fail(err.Error())
	}
	return c, dups, dropped
}

// Load reads the document at path (none when path is empty), applies the
// environment, then defaults, then validates. Its error lists every problem
// found on the way, each with its field path: those of the document's shape,
// of the environment and of the values.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	var errs, dropped Errors
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		var dups Errors
		c, dups, dropped = parse(data)
		if errs = append(dups, dropped...); c == nil {
			return nil, errs
		}
	}
	if es, ok := AsErrors(ApplyEnv(c, getenv)); ok {
		errs = append(errs, es...)
	}
	SetDefaults(c)
	if es, ok := AsErrors(Validate(c)); ok {
		for _, e := range es {
			// A value parse dropped has its default now; a complaint about
			// it would be about a value nobody wrote.
			if !underAny(e.Path, dropped) {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// underAny reports whether path is one of the paths of es or inside one.
func underAny(path string, es Errors) bool {
	for _, e := range es {
		if path == e.Path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[") {
			return true
		}
	}
	return false
}

// duplicateKeys names every key set twice in one mapping, with its field
// path and both lines. The strict YAML conversion stops at the first one and
// names a line, not a field, so they are looked for here first, on the node
// tree. A document that does not parse has none: the conversion reports why.
func duplicateKeys(data []byte) Errors {
	var root yaml3.Node
	if err := yaml3.Unmarshal(data, &root); err != nil {
		return nil
	}
	var errs Errors
	var walk func(n *yaml3.Node, path string)
	walk = func(n *yaml3.Node, path string) {
		switch n.Kind {
		case yaml3.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml3.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml3.MappingNode:
			first := map[string]int{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, p := n.Content[i], join(path, n.Content[i].Value)
				if line, seen := first[k.Value]; seen {
					errs = append(errs, FieldError{Path: p, Message: fmt.Sprintf("key %q already set on line %d, set again on line %d", k.Value, line, k.Line)})
				} else if k.Value != "<<" { // a merge key may repeat
					first[k.Value] = k.Line
				}
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&root, "")
	return errs
}

var (
	durationType = reflect.TypeOf(Duration{})
	rawJSONType  = reflect.TypeOf(json.RawMessage{})
)

// checkShape walks the generic JSON value against the Go type and records
// every unknown field and type mismatch with its path, which encoding/json
// alone would report one at a time and without a path. It removes what it
// reports, so the rest decodes, and says whether v itself may stay.
func checkShape(v any, t reflect.Type, path string, errs *Errors) bool {
	if v == nil {
		return true
	}
	add := func(format string, args ...any) bool {
		p := path
		if p == "" {
			p = "(document)"
		}
		*errs = append(*errs, FieldError{Path: p, Message: fmt.Sprintf(format, args...)})
		return false
	}
	if t == rawJSONType {
		return true // any JSON value (a schedule's payload)
	}
	if t == durationType {
		s, ok := v.(string)
		if !ok {
			return add("must be a duration string such as \"300s\" or \"5m\", got %s", jsonKind(v))
		}
		if _, err := time.ParseDuration(s); err != nil {
			return add("must be a duration such as \"300s\" or \"5m\", got %q", s)
		}
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkShape(v, t.Elem(), path, errs)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return add("must be a mapping, got %s", jsonKind(v))
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			f, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Path: join(path, k), Message: "unknown field" + suggest(k, fields)})
				delete(m, k)
				continue
			}
			if !checkShape(m[k], f.Type, join(path, k), errs) {
				delete(m, k)
			}
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			return add("must be a list, got %s", jsonKind(v))
		}
		for i, e := range a {
			if !checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs) {
				a[i] = nil // keeps the indexes of the others
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return add("must be a mapping, got %s", jsonKind(v))
		}
		for _, k := range sortedKeys(m) {
			if !checkShape(m[k], t.Elem(), join(path, k), errs) {
				delete(m, k)
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return add("must be a string, got %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return add("must be true or false, got %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return add("must be an integer, got %s", jsonKind(v))
		}
	case reflect.Float64:
		if _, ok := v.(float64); !ok {
			return add("must be a number, got %s", jsonKind(v))
		}
	}
	return true
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
