package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// schemaRules shapes the values schema beyond what values.yaml shows.
// Patterns are dotted value paths; "*" matches one key.
type schemaRules struct {
	// free are Kubernetes-native or user-defined maps and lists passed
	// through to manifests as they are; the API server checks them.
	free []string
	// enums restrict strings to the given values.
	enums map[string][]string
	// minimums give integers a lower bound.
	minimums map[string]int
	// nullable values may also be null.
	nullable []string
	// exact gives a value its whole schema, for what its default cannot
	// show (a value that may be a string or a number, an upper bound).
	exact map[string]map[string]any
}

var chartRules = schemaRules{
	free: []string{
		"commonLabels", "podAnnotations", "podLabels", "nodeSelector", "tolerations", "affinity",
		"imagePullSecrets", "extraEnv", "resources", "podSecurityContext", "securityContext",
		"*.annotations", "*.labels", "*.nodeSelector", "*.tolerations", "*.affinity", "*.resources",
		"*.securityContext", "ingress.tls", "networkPolicy.ingressFrom", "tracing.resourceAttributes",
	},
	enums: map[string][]string{
		"image.pullPolicy":                 {"Always", "IfNotPresent", "Never"},
		"*.image.pullPolicy":               {"Always", "IfNotPresent", "Never"},
		"service.type":                     {"ClusterIP", "NodePort", "LoadBalancer"},
		"tracing.protocol":                 {"grpc", "http/protobuf"},
		"redis.architecture":               {"standalone", "cluster"},
		"ingress.hosts[].paths[].pathType": {"Prefix", "Exact", "ImplementationSpecific"},
		"redis.maxmemoryPolicy": {
			"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
			"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
		},
	},
	minimums: map[string]int{
		"replicaCount": 0, "autoscaling.minReplicas": 1, "autoscaling.maxReplicas": 1,
		"preStopSleepSeconds": 0, "terminationGracePeriodSeconds": 0, "service.port": 1,
		"redis.cluster.masters": 3, "redis.cluster.replicasPerMaster": 0,
	},
	nullable: []string{"terminationGracePeriodSeconds"},
	exact: map[string]map[string]any{
		// What redis.conf accepts: bytes, or a whole number with k/kb/m/mb/g/gb
		// in any case; empty derives it from the memory limit.
		"redis.maxmemory":        {"type": []string{"string", "integer"}, "minimum": 0, "pattern": "^([0-9]+([kKmMgG][bB]?)?)?$"},
		"redis.maxmemoryPercent": {"type": "integer", "minimum": 1, "maximum": 100},
		"tracing.samplingRatio":  {"type": "number", "minimum": 0, "maximum": 1},
	},
}

// ValuesSchema builds charts/redlane/values.schema.json from values.yaml and
// the RedlaneConfig JSON Schema (`redlane config schema`): every key of
// values.yaml becomes a property typed from its default and described by its
// comment (a key without a comment is an error: every value is documented),
// objects reject unknown keys, and `config` is the document's spec schema, so
// a new config field needs no chart change, only a regeneration.
func ValuesSchema(valuesYAML, configSchema []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(valuesYAML, &doc); err != nil {
		return nil, fmt.Errorf("parsing values.yaml: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("values.yaml: top level is not a mapping")
	}
	spec, err := configSpecSchema(configSchema)
	if err != nil {
		return nil, err
	}
	g := &schemaGen{rules: chartRules, config: spec}
	root, err := g.node(doc.Content[0], "")
	if err != nil {
		return nil, err
	}
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "Values of the redlane Helm chart"
	root["description"] = "Generated from values.yaml and `redlane config schema` by `make chart-schema`; do not edit."
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// configSpecSchema extracts properties.spec of the RedlaneConfig schema.
func configSpecSchema(configSchema []byte) (map[string]any, error) {
	var s map[string]any
	if err := json.Unmarshal(configSchema, &s); err != nil {
		return nil, fmt.Errorf("parsing the config schema: %w", err)
	}
	props, _ := s["properties"].(map[string]any)
	spec, ok := props["spec"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("config schema has no properties.spec")
	}
	spec["description"] = "The RedlaneConfig document's spec (redlane.dev/v1alpha1), rendered into the config ConfigMap. Generated from `redlane config schema`."
	return spec, nil
}

type schemaGen struct {
	rules  schemaRules
	config map[string]any
}

func (g *schemaGen) matches(patterns []string, p string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
		// "*.x" also matches deeper paths ending in .x.
		if strings.HasPrefix(pat, "*.") && strings.HasSuffix(p, pat[1:]) {
			return true
		}
	}
	return false
}

func (g *schemaGen) enum(p string) []string {
	if e, ok := g.rules.enums[p]; ok {
		return e
	}
	for pat, e := range g.rules.enums {
		if strings.HasPrefix(pat, "*.") && strings.HasSuffix(p, pat[1:]) {
			return e
		}
	}
	return nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// node returns the schema of one values node at path p.
func (g *schemaGen) node(n *yaml.Node, p string) (map[string]any, error) {
	if p == "config" {
		return g.config, nil
	}
	if g.matches(g.rules.free, p) {
		switch n.Kind {
		case yaml.SequenceNode:
			return map[string]any{"type": "array"}, nil
		default:
			return map[string]any{"type": "object"}, nil
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		props := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := join(p, k.Value)
			s, err := g.node(v, child)
			if err != nil {
				return nil, err
			}
			desc := ""
			for _, c := range []string{k.HeadComment, v.HeadComment, k.LineComment, v.LineComment} {
				if desc = comment(c); desc != "" {
					break
				}
			}
			if desc == "" && v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("values.yaml: %s has no comment (every value is documented)", child)
			}
			if desc != "" {
				s["description"] = desc
			}
			props[k.Value] = s
		}
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}, nil
	case yaml.SequenceNode:
		s := map[string]any{"type": "array"}
		if len(n.Content) > 0 {
			item, err := g.node(n.Content[0], p+"[]")
			if err != nil {
				return nil, err
			}
			s["items"] = item
		}
		return s, nil
	case yaml.ScalarNode:
		if e, ok := g.rules.exact[p]; ok {
			s := map[string]any{}
			for k, v := range e {
				s[k] = v
			}
			return s, nil
		}
		var s map[string]any
		switch n.Tag {
		case "!!str":
			s = map[string]any{"type": "string"}
			if e := g.enum(p); e != nil {
				s["enum"] = e
			}
		case "!!int":
			s = map[string]any{"type": "integer"}
			if m, ok := g.rules.minimums[p]; ok {
				s["minimum"] = m
			}
		case "!!float":
			s = map[string]any{"type": "number"}
		case "!!bool":
			s = map[string]any{"type": "boolean"}
		case "!!null":
			s = map[string]any{}
			if m, ok := g.rules.minimums[p]; ok {
				s = map[string]any{"type": []string{"integer", "null"}, "minimum": m}
			}
		default:
			return nil, fmt.Errorf("values.yaml: %s: unsupported tag %s", p, n.Tag)
		}
		if g.matches(g.rules.nullable, p) {
			if t, ok := s["type"].(string); ok {
				s["type"] = []string{t, "null"}
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("values.yaml: %s: unsupported node kind %v", p, n.Kind)
}

// comment turns a YAML head comment into a one-paragraph description.
func comment(c string) string {
	var lines []string
	for _, l := range strings.Split(c, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " ")
}
