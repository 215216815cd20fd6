package docs

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"

	"sigs.k8s.io/yaml"

	"github.com/redlane/redlane/internal/web"
)

// The document is written by hand, one YAML file per feature under openapi/,
// and merged here: adding a feature's routes means adding its file. The
// files are read in name order; 00-base.yaml holds info, security schemes and
// the shared components.
//
//go:embed openapi/*.yaml
var specFiles embed.FS

// fragment is what a feature file may hold.
type fragment struct {
	Tags         []map[string]any          `json:"tags"`
	Paths        map[string]map[string]any `json:"paths"`
	Components   map[string]map[string]any `json:"components"`
	ProblemTypes []string                  `json:"x-problem-types"`
}

// methods are the operation keys of a path item.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Build assembles the OpenAPI 3.1 document as indented JSON, with version
// as info.version.
func Build(version string) ([]byte, error) {
	names, err := fs.Glob(specFiles, "openapi/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	if len(names) == 0 || path.Base(names[0]) != "00-base.yaml" {
		return nil, fmt.Errorf("openapi: 00-base.yaml must come first, got %v", names)
	}
	var doc map[string]any
	if err := readYAML(names[0], &doc, false); err != nil {
		return nil, err
	}
	var slugs []string
	if v, ok := doc["x-problem-types"].([]any); ok {
		for _, s := range v {
			slugs = append(slugs, fmt.Sprint(s))
		}
	}
	delete(doc, "x-problem-types")
	info, _ := doc["info"].(map[string]any)
	if info == nil {
		return nil, fmt.Errorf("openapi: 00-base.yaml has no info")
	}
	info["version"] = version
	doc["paths"] = map[string]any{}
	for _, name := range names[1:] {
		var f fragment
		if err := readYAML(name, &f, true); err != nil {
			return nil, err
		}
		if err := merge(doc, f); err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", name, err)
		}
		slugs = append(slugs, f.ProblemTypes...)
	}
	if err := setProblemTypes(doc, slugs); err != nil {
		return nil, err
	}
	addCommonResponses(doc)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("openapi: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// readYAML decodes one embedded file; strict refuses keys a fragment may
// not have.
func readYAML(name string, v any, strict bool) error {
	b, err := specFiles.ReadFile(name)
	if err != nil {
		return err
	}
	if strict {
		err = yaml.UnmarshalStrict(b, v)
	} else {
		err = yaml.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("openapi: %s: %w", name, err)
	}
	return nil
}

// merge adds a feature's tags, operations and components to doc; the same
// operation or component defined twice is an error.
func merge(doc map[string]any, f fragment) error {
	tags, _ := doc["tags"].([]any)
	for _, t := range f.Tags {
		if !slices.ContainsFunc(tags, func(x any) bool { return x.(map[string]any)["name"] == t["name"] }) {
			tags = append(tags, t)
		}
	}
	doc["tags"] = tags
	paths := doc["paths"].(map[string]any)
	for p, item := range f.Paths {
		have, _ := paths[p].(map[string]any)
		if have == nil {
			paths[p] = item
			continue
		}
		for k, v := range item {
			if _, dup := have[k]; dup {
				return fmt.Errorf("path %s: %s defined twice", p, k)
			}
			have[k] = v
		}
	}
	comps, _ := doc["components"].(map[string]any)
	for kind, defs := range f.Components {
		have, _ := comps[kind].(map[string]any)
		if have == nil {
			have = map[string]any{}
			comps[kind] = have
		}
		for name, v := range defs {
			if _, dup := have[name]; dup {
				return fmt.Errorf("components.%s.%s defined twice", kind, name)
			}
			have[name] = v
		}
	}
	return nil
}

// setProblemTypes makes the Problem schema's type an enum of every slug the
// files declare, so a response with an undocumented type fails validation.
func setProblemTypes(doc map[string]any, slugs []string) error {
	sort.Strings(slugs)
	slugs = slices.Compact(slugs)
	enum := make([]any, len(slugs))
	for i, s := range slugs {
		enum[i] = web.ProblemBase + s
	}
	p, ok := lookup(doc, "components", "schemas", "Problem", "properties", "type")
	if !ok {
		return fmt.Errorf("openapi: 00-base.yaml has no Problem schema")
	}
	p["enum"] = enum
	return nil
}

func lookup(m map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

func ref(kind, name string) map[string]any {
	return map[string]any{"$ref": "#/components/" + kind + "/" + name}
}

// addCommonResponses adds to every operation what the middleware can answer
// on any route: 400 (bad parameters or body, or a header that must be
// single sent twice), 429 from a rate-limit policy, 431 for too many header
// lines, 503 when a dependency or the rate limiter cannot answer, 500; and
// 413/415 where there is a body. Every response may carry the request
// ID and, when a policy matched, the rate-limit headers.
func addCommonResponses(doc map[string]any) {
	for _, item := range doc["paths"].(map[string]any) {
		item := item.(map[string]any)
		for _, m := range methods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			rs, _ := op["responses"].(map[string]any)
			if rs == nil {
				rs = map[string]any{}
				op["responses"] = rs
			}
			add := func(code, name string) {
				if _, ok := rs[code]; !ok {
					rs[code] = ref("responses", name)
				}
			}
			add("429", "TooManyRequests")
			add("431", "HeaderFieldsTooLarge")
			add("500", "Internal")
			add("503", "Unavailable")
			// 400 everywhere: a header that must be single, sent twice.
			add("400", "BadRequest")
			if _, body := op["requestBody"]; body {
				add("413", "PayloadTooLarge")
				add("415", "UnsupportedMediaType")
			}
			for _, r := range rs {
				addCommonHeaders(r.(map[string]any))
			}
		}
	}
	if rs, ok := lookup(doc, "components", "responses"); ok {
		for _, r := range rs {
			addCommonHeaders(r.(map[string]any))
		}
	}
}

func addCommonHeaders(resp map[string]any) {
	if _, isRef := resp["$ref"]; isRef {
		return
	}
	hs, _ := resp["headers"].(map[string]any)
	if hs == nil {
		hs = map[string]any{}
		resp["headers"] = hs
	}
	for _, h := range []string{"X-Request-ID", "RateLimit", "RateLimit-Policy"} {
		if _, ok := hs[h]; !ok {
			hs[h] = ref("headers", h)
		}
	}
}
