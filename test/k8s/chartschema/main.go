// Command chartschema regenerates charts/redlane/values.schema.json from
// charts/redlane/values.yaml and the RedlaneConfig schema (make chart-schema,
// or go generate ./test/k8s). Run it after adding a config field or a value.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redlane/redlane/internal/config"
	"github.com/redlane/redlane/test/k8s"
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
	values, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return err
	}
	cs, err := config.Schema()
	if err != nil {
		return err
	}
	out, err := k8s.ValuesSchema(values, cs)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(chart, "values.schema.json"), out, 0o644)
}
