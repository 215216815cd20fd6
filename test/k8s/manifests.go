package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Object is one decoded Kubernetes manifest.
type Object map[string]any

// Kind is the object's kind.
func (o Object) Kind() string { s, _ := o["kind"].(string); return s }

// Name is metadata.name.
func (o Object) Name() string { return o.Str("metadata", "name") }

// Get walks o along keys (map keys, or integer indexes into lists).
func (o Object) Get(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

// Str is Get as a string ("" when absent or not a string).
func (o Object) Str(path ...any) string { s, _ := o.Get(path...).(string); return s }

// Map is Get as a map (nil when absent).
func (o Object) Map(path ...any) map[string]any { m, _ := o.Get(path...).(map[string]any); return m }

// List is Get as a list (nil when absent).
func (o Object) List(path ...any) []any { l, _ := o.Get(path...).([]any); return l }

// PodSpec returns the pod spec of a workload or Pod (nil for other kinds).
func (o Object) PodSpec() Object {
	switch o.Kind() {
	case "Pod":
		return Object(o.Map("spec"))
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return Object(o.Map("spec", "template", "spec"))
	case "CronJob":
		return Object(o.Map("spec", "jobTemplate", "spec", "template", "spec"))
	}
	return nil
}

// ParseManifests decodes a multi-document YAML stream, skipping empty
// documents.
func ParseManifests(data []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Object
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decoding manifests: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, Object(m))
	}
}

// Find returns the objects of a kind whose name has the given suffix.
func Find(objs []Object, kind, nameSuffix string) []Object {
	var out []Object
	for _, o := range objs {
		if o.Kind() == kind && strings.HasSuffix(o.Name(), nameSuffix) {
			out = append(out, o)
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
