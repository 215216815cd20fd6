package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/config"
)

// chartDir is the chart, seen from this package's directory (go test runs
// there).
const chartDir = "../../charts/redlane"

// TestValuesSchemaUpToDate fails when charts/redlane/values.schema.json is
// not what values.yaml and the current RedlaneConfig schema generate: after
// adding a config field or a chart value, run `make chart-schema`.
func TestValuesSchemaUpToDate(t *testing.T) {
	want, err := generate(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("charts/redlane/values.schema.json is stale (values.yaml or the RedlaneConfig types changed): run `make chart-schema` and commit the result")
	}
}

// TestValuesSchemaGenerator: the generator refuses undocumented values and
// carries the config document's schema under `config`.
func TestValuesSchemaGenerator(t *testing.T) {
	cs, err := config.Schema()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ValuesSchema([]byte("# Documented.\na: 1\nb: 2\n"), cs); err == nil || !strings.Contains(err.Error(), "b has no comment") {
		t.Fatalf("undocumented value accepted: %v", err)
	}
	out, err := ValuesSchema([]byte("# The config spec.\nconfig: {}\n# A flag.\nflag: true\n"), cs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"drainDelay"`, `"flag"`, `"additionalProperties": false`, `"description": "A flag."`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("generated schema lacks %s", want)
		}
	}
}
