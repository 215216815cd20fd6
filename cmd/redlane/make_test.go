package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestMakeHelpListsEveryTarget: `make help` lists every rule of the Makefile
// with its description (none hidden by the pattern that finds them), every
// rule is .PHONY, and every .PHONY name has a rule, so no target silently
// does nothing.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	makeBin, err := exec.LookPath("make")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is not installed")
		}
		t.Skip("make is not installed")
	}
	src, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(src), "\\\n", " ")
	rules := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+):([^=]|$)`).FindAllStringSubmatch(text, -1) {
		if m[1] != ".PHONY" {
			rules[m[1]] = true
		}
	}
	phony := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindAllStringSubmatch(text, -1) {
		for _, name := range strings.Fields(m[1]) {
			phony[name] = true
		}
	}
	out, err := exec.Command(makeBin, "-s", "-C", "../..", "help").CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Errorf("make help line without a description: %q", line)
			continue
		}
		listed[f[0]] = true
	}
	if len(rules) < 10 {
		t.Fatalf("found only %d rules in the Makefile: %v", len(rules), rules)
	}
	for name := range rules {
		if !listed[name] {
			t.Errorf("make help does not list %q", name)
		}
		if !phony[name] {
			t.Errorf("%q is not .PHONY", name)
		}
	}
	for name := range phony {
		if !rules[name] {
			t.Errorf(".PHONY names %q, which has no rule", name)
		}
	}
}
