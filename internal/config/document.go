package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"
)

// DefaultDocument renders the defaulted document as YAML with each field's
// description as a comment above it: what `redlane config default` prints.
func DefaultDocument() []byte {
	var b bytes.Buffer
	b.WriteString("# Redlane configuration. Every field is optional; shown are the defaults.\n")
	b.WriteString("# Check a file with: redlane config check -f FILE\n")
	b.WriteString("# Environment variables override fields:")
	for i, e := range EnvVars {
		if i%4 == 0 {
			b.WriteString("\n#  ")
		}
		b.WriteString(" " + e.Name)
	}
	b.WriteString("\n")
	writeYAML(&b, reflect.ValueOf(Default()).Elem(), 0)
	return b.Bytes()
}

func writeYAML(b *bytes.Buffer, v reflect.Value, depth int) {
	t := v.Type()
	indent := strings.Repeat("  ", depth)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if doc := f.Tag.Get("jsonschema_description"); doc != "" {
			for _, line := range wrap(doc, 88-len(indent)) {
				fmt.Fprintf(b, "%s# %s\n", indent, line)
			}
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != durationType {
			fmt.Fprintf(b, "%s%s:\n", indent, name)
			writeYAML(b, fv, depth+1)
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Len() == 0 {
			fmt.Fprintf(b, "%s%s: []\n", indent, name)
			continue
		}
		out, err := yaml.Marshal(fv.Interface())
		if err != nil {
			panic(err) // plain data: cannot happen
		}
		s := strings.TrimRight(string(out), "\n")
		if !strings.Contains(s, "\n") {
			fmt.Fprintf(b, "%s%s: %s\n", indent, name, s)
			continue
		}
		fmt.Fprintf(b, "%s%s:\n", indent, name)
		for _, line := range strings.Split(s, "\n") {
			fmt.Fprintf(b, "%s  %s\n", indent, line)
		}
	}
}

func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
