package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Offline schemas for kubeconform, generated from the OpenAPI (swagger 2.0)
// document Kubernetes ships in the k8s.io/kubernetes module
// (api/openapi-spec/swagger.json) and from CRD manifests, laid out the way
// kubeconform looks them up:
//
//	<dir>/<kind>-<group>-<version>.json    e.g. deployment-apps-v1.json, service-v1.json
//
// Each schema is standalone ($refs inlined) and, with strict, closed: every
// object with declared properties gets additionalProperties: false, so an
// unknown field is an error (like `kubectl --validate=strict`).

// WriteKubeconformSchemas writes one schema per kind of swaggerPath and of
// every CRD in crdFiles into dir. It returns how many it wrote.
func WriteKubeconformSchemas(swaggerPath string, crdFiles []string, dir string, strict bool) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	b, err := os.ReadFile(swaggerPath)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, fmt.Errorf("parsing %s: %w", swaggerPath, err)
	}
	n := 0
	for name, def := range doc.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			x := &expander{defs: doc.Definitions, strict: strict, stack: map[string]bool{name: true}}
			schema := x.expand(def)
			schema["$schema"] = "http://json-schema.org/schema#"
			if err := writeSchema(dir, kind, group, version, schema); err != nil {
				return n, err
			}
			n++
		}
	}
	for _, f := range crdFiles {
		c, err := writeCRDSchemas(f, dir, strict)
		n += c
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func writeSchema(dir, kind, group, version string, schema map[string]any) error {
	suffix := "-" + strings.ToLower(version)
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
	}
	b, err := json.Marshal(schema)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, strings.ToLower(kind)+suffix+".json"), b, 0o644)
}

type expander struct {
	defs   map[string]map[string]any
	strict bool
	stack  map[string]bool
}

// expand returns a copy of s with every $ref inlined. A recursive reference
// (JSONSchemaProps) becomes an open schema.
func (x *expander) expand(s map[string]any) map[string]any {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		switch name {
		case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		case "io.k8s.apimachinery.pkg.api.resource.Quantity":
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		}
		if x.stack[name] {
			return map[string]any{}
		}
		def, ok := x.defs[name]
		if !ok {
			return map[string]any{}
		}
		x.stack[name] = true
		out := x.expand(def)
		delete(x.stack, name)
		if d, ok := s["description"]; ok {
			out["description"] = d
		}
		return out
	}
	out := make(map[string]any, len(s))
	for k, v := range s {
		switch k {
		case "properties":
			props := map[string]any{}
			for pk, pv := range v.(map[string]any) {
				props[pk] = x.expand(pv.(map[string]any))
			}
			out[k] = props
		case "items", "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = x.expand(m)
			} else {
				out[k] = v
			}
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, e := range v.([]any) {
				list = append(list, x.expand(e.(map[string]any)))
			}
			out[k] = list
		case "x-kubernetes-group-version-kind":
			// not a validation keyword
		default:
			out[k] = v
		}
	}
	if x.strict {
		closeObject(out)
	}
	return out
}

// closeObject forbids unknown properties on an object schema that declares
// its properties and does not keep unknown fields on purpose.
func closeObject(s map[string]any) {
	if _, ok := s["properties"]; !ok {
		return
	}
	if _, ok := s["additionalProperties"]; ok {
		return
	}
	if keep, _ := s["x-kubernetes-preserve-unknown-fields"].(bool); keep {
		return
	}
	s["additionalProperties"] = false
}

// writeCRDSchemas writes the openAPIV3Schema of every served version of the
// CRDs in file.
func writeCRDSchemas(file, dir string, strict bool) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	objs, err := ParseManifests(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	n := 0
	for _, o := range objs {
		if o.Kind() != "CustomResourceDefinition" {
			continue
		}
		group := o.Str("spec", "group")
		kind := o.Str("spec", "names", "kind")
		for _, v := range o.List("spec", "versions") {
			ver := Object(v.(map[string]any))
			schema := ver.Map("schema", "openAPIV3Schema")
			if schema == nil {
				continue
			}
			if strict {
				walkSchema(schema, closeObject)
			}
			schema["$schema"] = "http://json-schema.org/schema#"
			if err := writeSchema(dir, kind, group, ver.Str("name"), schema); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// walkSchema calls f on s and every nested schema.
func walkSchema(s map[string]any, f func(map[string]any)) {
	f(s)
	if props, ok := s["properties"].(map[string]any); ok {
		for _, p := range props {
			if m, ok := p.(map[string]any); ok {
				walkSchema(m, f)
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if m, ok := s[k].(map[string]any); ok {
			walkSchema(m, f)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if l, ok := s[k].([]any); ok {
			for _, e := range l {
				if m, ok := e.(map[string]any); ok {
					walkSchema(m, f)
				}
			}
		}
	}
}
