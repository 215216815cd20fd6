package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// docBlock is one fenced command block of a documentation file.
type docBlock struct {
	file  string // relative to the repository root
	line  int    // of the opening fence
	stmts []docStmt
}

// docStmt is one command of a block: one line, or several joined by
// continuations, open quotes or a for loop.
type docStmt struct {
	where   string // file:line of its first line
	text    string // as written
	notes   string // the comment lines right below it
	code    string // comments stripped, whitespace collapsed, `go run ./cmd/redlane` as `redlane`
	cmds    [][]string
	problem string // why it could not be read
	rule    int    // the notRun entry it matches, or -1
	run     bool
}

// repoRoot is the repository's directory (tests run in cmd/redlane).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// docFiles are README.md and docs/*.md, in the order TestDocs runs them.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return append([]string{filepath.Join(root, "README.md")}, files...)
}

// readDocs returns the repository root and the command blocks of README.md
// and docs/*.md, in that order.
func readDocs(t *testing.T) (string, []docBlock) {
	t.Helper()
	root := repoRoot(t)
	var blocks []docBlock
	for _, f := range docFiles(t, root) {
		rel, _ := filepath.Rel(root, f)
		for _, b := range fencedBlocks(t, f) {
			switch {
			case !b.closed:
				t.Errorf("%s:%d: unclosed code fence", rel, b.line)
			case b.lang == "":
				t.Errorf("%s:%d: code fence without a language: name one (bash for commands, text for anything else)", rel, b.line)
			case b.lang == "bash", b.lang == "sh", b.lang == "shell", b.lang == "console", b.lang == "zsh":
				blocks = append(blocks, docBlock{file: rel, line: b.line, stmts: splitStatements(rel, b.line+1, b.body)})
			}
		}
	}
	if len(blocks) == 0 {
		t.Fatal("no command blocks found in README.md and docs/")
	}
	return root, blocks
}

// fencedBlock is a fenced block of a markdown file.
type fencedBlock struct {
	line   int // of the opening fence
	lang   string
	body   []string
	closed bool
}

// fencedBlocks returns every fenced block of a markdown file.
func fencedBlocks(t *testing.T, path string) []fencedBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []fencedBlock
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		fence, lang, ok := openFence(lines[i])
		if !ok {
			continue
		}
		b := fencedBlock{line: i + 1, lang: lang}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != fence; i++ {
			b.body = append(b.body, lines[i])
		}
		b.closed = i < len(lines)
		out = append(out, b)
	}
	return out
}

// openFence reports whether line opens a fenced block, with the fence that
// closes it and the block's language.
func openFence(line string) (fence, lang string, ok bool) {
	s := strings.TrimSpace(line)
	for _, f := range []string{"```", "~~~"} {
		if strings.HasPrefix(s, f) {
			n := len(s) - len(strings.TrimLeft(s, f[:1]))
			return s[:n], strings.TrimSpace(s[n:]), true
		}
	}
	return "", "", false
}

// splitStatements cuts a block into commands; first is the file line of
// body[0].
func splitStatements(file string, first int, body []string) []docStmt {
	var out []docStmt
	var cur []string
	start := 0
	attach := false
	for i, line := range body {
		if len(cur) == 0 {
			start = first + i
		}
		cur = append(cur, line)
		text := strings.Join(cur, "\n")
		sc := scanShell(goRunRedlane.ReplaceAllString(text, "redlane"))
		if sc.unfinished && i < len(body)-1 {
			continue
		}
		cur = nil
		if sc.code == "" { // a comment describes the command above it; a blank line ends that
			if n := len(out); n > 0 && strings.TrimSpace(text) != "" && attach {
				out[n-1].notes += text + "\n"
			} else {
				attach = false
			}
			continue
		}
		attach = true
		st := docStmt{where: fmt.Sprintf("%s:%d", file, start), text: text, code: sc.code, cmds: sc.cmds, rule: -1}
		if sc.unfinished {
			st.problem = "unfinished command (open quote, $( or loop, or a trailing | && \\) at the end of the block"
		}
		out = append(out, st)
	}
	return out
}

// shellScan is what scanShell found in a statement.
type shellScan struct {
	cmds       [][]string // the words of every simple command, assignments and redirections left out
	code       string     // comments stripped, whitespace collapsed
	unfinished bool
}

var shellAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// scanShell reads a bash statement just far enough to know what it runs: the
// words of every simple command (at the start, after | || && ; & and
// newlines, inside $( ) and ( ), after do, then and else), without NAME=value
// assignments and redirection targets. Nothing is expanded.
func scanShell(s string) shellScan {
	type frame struct {
		kind     byte // 'c' commands, '\'' or '"' a quoted string
		paren    bool // a 'c' frame opened by $( or (, closed by )
		start    bool // no command word yet in this simple command
		inWord   bool
		redirect bool // the next word is a redirection target
		word     strings.Builder
		words    []string
	}
	var res shellScan
	var code strings.Builder
	stack := []*frame{{kind: 'c', start: true}}
	depth := 0          // open for/while/until/if
	trailingOp := false // the text ends in | && ||
	cmdFrame := func() *frame {
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].kind == 'c' {
				return stack[i]
			}
		}
		return stack[0]
	}
	endWord := func(f *frame) {
		if !f.inWord {
			return
		}
		w := f.word.String()
		f.word.Reset()
		f.inWord = false
		switch {
		case f.redirect:
			f.redirect = false
		case !f.start:
			f.words = append(f.words, w)
		case shellAssignment.MatchString(w), w == "do", w == "then", w == "else", w == "{", w == "!":
		case w == "if", w == "while", w == "until":
			depth++
		case w == "done", w == "fi":
			depth--
		default:
			if w == "for" {
				depth++
			}
			f.words = append(f.words, w)
			f.start = false
		}
	}
	endCmd := func(f *frame) {
		endWord(f)
		if len(f.words) > 0 {
			res.cmds = append(res.cmds, f.words)
		}
		f.words, f.start = nil, true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		f := stack[len(stack)-1]
		switch f.kind {
		case '\'':
			code.WriteByte(c)
			if c == '\'' {
				stack = stack[:len(stack)-1]
			} else {
				cmdFrame().word.WriteByte(c)
			}
			continue
		case '"':
			code.WriteByte(c)
			switch {
			case c == '\\' && i+1 < len(s):
				i++
				code.WriteByte(s[i])
				cmdFrame().word.WriteByte(s[i])
			case c == '"':
				stack = stack[:len(stack)-1]
			case c == '$' && i+1 < len(s) && s[i+1] == '(':
				i++
				code.WriteByte('(')
				stack = append(stack, &frame{kind: 'c', paren: true, start: true})
			default:
				cmdFrame().word.WriteByte(c)
			}
			continue
		}
		switch {
		case c == '#' && !f.inWord:
			for i+1 < len(s) && s[i+1] != '\n' {
				i++
			}
			continue
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
			endWord(f)
			code.WriteByte(' ')
			continue
		case c == '\\' && i+1 < len(s):
			trailingOp = false
			f.inWord = true
			code.WriteString(s[i : i+2])
			i++
			f.word.WriteByte(s[i])
			continue
		case c == '\\':
			res.unfinished = true // a backslash at the very end continues the line
			continue
		}
		if !unicode.IsSpace(rune(c)) {
			if !(c == '|' || c == '&') {
				trailingOp = false
			}
		}
		code.WriteByte(c)
		switch c {
		case ' ', '\t', '\r':
			endWord(f)
		case '\n':
			endCmd(f)
		case '\'', '"':
			f.inWord = true
			stack = append(stack, &frame{kind: c})
		case '$':
			f.inWord = true
			if i+1 < len(s) && s[i+1] == '(' {
				i++
				code.WriteByte('(')
				stack = append(stack, &frame{kind: 'c', paren: true, start: true})
			} else {
				f.word.WriteByte(c)
			}
		case '(':
			if f.start && !f.inWord {
				stack = append(stack, &frame{kind: 'c', paren: true, start: true})
			} else {
				f.inWord = true
				f.word.WriteByte(c)
			}
		case ')':
			if f.paren {
				endCmd(f)
				stack = stack[:len(stack)-1]
			} else {
				f.inWord = true
				f.word.WriteByte(c)
			}
		case '<', '>':
			endWord(f)
			f.redirect = true
		case '&':
			if i > 0 && (s[i-1] == '>' || s[i-1] == '<') {
				continue // >&2: part of the redirection
			}
			endCmd(f)
			trailingOp = i > 0 && s[i-1] == '&'
		case '|', ';':
			endCmd(f)
			trailingOp = c == '|'
		default:
			f.inWord = true
			f.word.WriteByte(c)
		}
	}
	for len(stack) > 1 {
		res.unfinished = true
		endCmd(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
	}
	endCmd(stack[0])
	res.unfinished = res.unfinished || depth > 0 || trailingOp
	res.code = strings.Join(strings.Fields(code.String()), " ")
	return res
}
