package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestDocsLinks checks that every relative link in README.md and docs/*.md
// points at a file that exists and, with a #fragment, at one of its headings.
func TestDocsLinks(t *testing.T) {
	root := repoRoot(t)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	inlineCode := regexp.MustCompile("`[^`]*`")
	for _, f := range docFiles(t, root) {
		rel, _ := filepath.Rel(root, f)
		for i, line := range proseLines(t, f) {
			for _, m := range link.FindAllStringSubmatch(inlineCode.ReplaceAllString(line, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, frag, _ := strings.Cut(target, "#")
				dest := f
				if path != "" {
					dest = filepath.Join(filepath.Dir(f), path)
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: link %s: no such file", rel, i+1, target)
					continue
				}
				if frag != "" && !headingAnchors(t, dest)[frag] {
					t.Errorf("%s:%d: link %s: no heading #%s in %s", rel, i+1, target, frag, filepath.Base(dest))
				}
			}
		}
	}
}

// TestDocsConfigExamples checks every RedlaneConfig example in README.md and
// docs/*.md (a yaml block that starts with its apiVersion, or with spec: for
// a fragment) with `redlane config check`, environment ignored.
func TestDocsConfigExamples(t *testing.T) {
	root := repoRoot(t)
	n := 0
	for _, f := range docFiles(t, root) {
		rel, _ := filepath.Rel(root, f)
		for _, b := range fencedBlocks(t, f) {
			if b.lang != "yaml" || len(b.body) == 0 {
				continue
			}
			doc := strings.Join(b.body, "\n") + "\n"
			switch {
			case strings.HasPrefix(doc, "apiVersion: redlane.dev/"):
			case strings.HasPrefix(doc, "spec:"):
				doc = "apiVersion: redlane.dev/v1alpha1\nkind: RedlaneConfig\n" + doc
			default:
				continue
			}
			n++
			path := filepath.Join(t.TempDir(), "redlane.yaml")
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if err := run(t.Context(), []string{"redlane", "config", "check", "--no-env", "-f", path}, func(string) string { return "" }, &out, &out); err != nil {
				t.Errorf("%s:%d: the config example is not valid: %v\n%s", rel, b.line, err, out.String())
			}
		}
	}
	if n == 0 {
		t.Error("no config examples found; has the docs' layout changed?")
	}
}

// proseLines returns the lines of a markdown file with its fenced blocks
// blanked (so line numbers still count from the top).
func proseLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	fence := ""
	for i, l := range lines {
		switch f, _, open := openFence(l); {
		case fence != "":
			if strings.TrimSpace(l) == fence {
				fence = ""
			}
			lines[i] = ""
		case open:
			fence = f
			lines[i] = ""
		}
	}
	return lines
}

// headingAnchors returns the GitHub anchors of a markdown file's headings.
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, l := range proseLines(t, path) {
		if strings.HasPrefix(l, "#") {
			out[githubAnchor(strings.TrimSpace(strings.TrimLeft(l, "#")))] = true
		}
	}
	return out
}

// githubAnchor is the fragment GitHub gives a heading: lower case, letters,
// digits, '-' and '_' kept, spaces turned into '-', everything else dropped.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
