// Command dashboards writes Redlane's Grafana dashboards, defined in
// internal/dashboards, as JSON files into a directory (dashboards/ at the
// repository root: make dashboards, which runs go generate there).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redlane/redlane/internal/dashboards"
)

func main() {
	out := flag.String("out", "dashboards", "directory to write the dashboard JSON files into")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	files, err := dashboards.Render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.JSON, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", f.Name, err)
		}
	}
	return nil
}
