// Command chartschema regenerates charts/redlane/values.schema.json from
// charts/redlane/values.yaml and the RedlaneConfig schema (make chart-schema).
// Run it after adding a config field or a chart value; its test fails while
// the checked-in file is stale.
package main

//go:generate go run . -chart ../../charts/redlane

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redlane/redlane/internal/config"
)

func main() {
	chart := flag.String("chart", "charts/redlane", "chart directory")
	flag.Parse()
	if err := run(*chart); err != nil {
		fmt.Fprintln(os.Stderr, "chartschema:", err)
		os.Exit(1)
	}
}

func run(chart string) error {
	out, err := generate(chart)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(chart, "values.schema.json"), out, 0o644)
}

// generate returns the values schema of the chart in dir.
func generate(chart string) ([]byte, error) {
	values, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return nil, err
	}
	cs, err := config.Schema()
	if err != nil {
		return nil, err
	}
	return ValuesSchema(values, cs)
}
