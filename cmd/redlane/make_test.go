package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
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

// TestFuzzTargetsListed: make fuzz runs every fuzz target of the module
// (FUZZ_TARGETS lists each as package:Target), and lists none that is gone.
func TestFuzzTargetsListed(t *testing.T) {
	src, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FUZZ_TARGETS := (.*)$`).FindSubmatch([]byte(strings.ReplaceAll(string(src), "\\\n", " ")))
	if m == nil {
		t.Fatal("no FUZZ_TARGETS in the Makefile")
	}
	listed := map[string]bool{}
	for _, f := range strings.Fields(string(m[1])) {
		listed[f] = true
	}
	found := map[string]bool{}
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz[A-Za-z0-9_]*)\(f \*testing\.F\)`)
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return err
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatch(b, -1) {
			found["./"+filepath.ToSlash(filepath.Dir(strings.TrimPrefix(path, "../../")))+":"+string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for f := range found {
		if !listed[f] {
			t.Errorf("FUZZ_TARGETS does not list %s", f)
		}
	}
	for f := range listed {
		if !found[f] {
			t.Errorf("FUZZ_TARGETS lists %s, which is not a fuzz target", f)
		}
	}
}
