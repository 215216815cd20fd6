package web

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// CheckJSON applies the input rules that encoding/json does not: it walks a
// JSON document and returns the path of the first value that breaks one
// (e.g. "payload.items[2]") and what is wrong, or "", "" when none does.
//
//   - A key set twice in one object is refused: encoding/json would keep the
//     last one silently, so a proxy or a log that reads the first sees
//     another request than the handler. Keys of the top-level object are
//     compared ignoring case, as encoding/json matches them to fields.
//   - A string (key or value) holding NUL (\u0000) or invalid UTF-8 (raw
//     bytes, or an unpaired surrogate escape such as \ud800) is refused:
//     encoding/json would replace invalid UTF-8 with U+FFFD unseen, and NUL
//     cuts C strings short and is refused by PostgreSQL.
//
// Only text that is valid JSON is checked; for anything else the result is
// meaningless (but CheckJSON never panics and always ends), so callers run
// it after the JSON parser accepted the document. A string at the top level
// is named "body".
func CheckJSON(b []byte) (field, problem string) {
	s := jsonScan{b: b}
	return s.value("", 0)
}

// Problems CheckJSON reports.
const (
	problemDuplicate = "is set more than once (duplicate key)"
	problemNUL       = `must not contain NUL (\u0000)`
	problemUTF8      = "must be valid UTF-8"
)

type jsonScan struct {
	b   []byte
	i   int
	buf []byte // the decoded key being compared
}

func (s *jsonScan) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// maxDepth stops the walk where encoding/json stops parsing (10,000
// levels), so no input can grow the stack without bound.
const maxDepth = 10000

func (s *jsonScan) value(path string, depth int) (string, string) {
	s.skipSpace()
	if s.i >= len(s.b) || depth > maxDepth {
		s.i = len(s.b)
		return "", ""
	}
	switch s.b[s.i] {
	case '{':
		return s.object(path, depth)
	case '[':
		return s.array(path, depth)
	case '"':
		if _, p := s.str(false); p != "" {
			return orBody(path), p
		}
		return "", ""
	}
	// A number or a literal: everything up to the next delimiter.
	start := s.i
	for s.i < len(s.b) && !strings.ContainsRune(",:{}[]\" \t\n\r", rune(s.b[s.i])) {
		s.i++
	}
	if s.i == start {
		s.i = len(s.b) // not JSON: stop
	}
	return "", ""
}

func (s *jsonScan) object(path string, depth int) (string, string) {
	s.i++ // {
	var seen map[string]struct{}
	for {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] == '}' {
			s.i++
			return "", ""
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.b[s.i] != '"' {
			s.i = len(s.b) // not JSON: stop
			return "", ""
		}
		key, p := s.str(true)
		child := join(path, key)
		if p != "" {
			return child, "key " + p
		}
		if depth == 0 {
			key = strings.ToLower(strings.ToUpper(key)) // folds K (Kelvin) and ſ as encoding/json does
		}
		if _, dup := seen[key]; dup {
			return child, problemDuplicate
		}
		if seen == nil {
			seen = map[string]struct{}{}
		}
		seen[key] = struct{}{}
		s.skipSpace()
		if s.i < len(s.b) && s.b[s.i] == ':' {
			s.i++
		}
		if f, p := s.value(child, depth+1); p != "" {
			return f, p
		}
	}
}

func (s *jsonScan) array(path string, depth int) (string, string) {
	s.i++ // [
	for n := 0; ; n++ {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] == ']' {
			s.i++
			return "", ""
		}
		if s.b[s.i] == ',' {
			s.i++
		}
		start := s.i
		if f, p := s.value(orBody(path)+"["+strconv.Itoa(n)+"]", depth+1); p != "" {
			return f, p
		}
		if s.i == start {
			s.i = len(s.b) // not JSON: stop
			return "", ""
		}
	}
}

// str reads the string at s.i (its opening quote) and reports a rule it
// breaks. With decode it returns the decoded text too.
func (s *jsonScan) str(decode bool) (string, string) {
	s.i++ // "
	s.buf = s.buf[:0]
	problem := ""
	set := func(p string) {
		if problem == "" {
			problem = p
		}
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(s.buf), problem
		case c == '\\':
			r, n := s.escape()
			s.i += n
			switch {
			case r == 0:
				set(problemNUL)
			case r == utf8.RuneError:
				set(problemUTF8)
			}
			if decode {
				s.buf = utf8.AppendRune(s.buf, r)
			}
		case c == 0:
			set(problemNUL)
			s.i++
		case c < utf8.RuneSelf:
			if decode {
				s.buf = append(s.buf, c)
			}
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 {
				set(problemUTF8)
			}
			if decode {
				s.buf = append(s.buf, s.b[s.i:s.i+n]...)
			}
			s.i += n
		}
	}
	return string(s.buf), problem
}

// escape decodes the escape sequence at s.i: the rune and its length in
// bytes. An unpaired surrogate is utf8.RuneError.
func (s *jsonScan) escape() (rune, int) {
	rest := s.b[s.i:]
	if len(rest) < 2 {
		return '\\', len(rest)
	}
	if rest[1] != 'u' {
		switch rest[1] {
		case 'b':
			return '\b', 2
		case 'f':
			return '\f', 2
		case 'n':
			return '\n', 2
		case 'r':
			return '\r', 2
		case 't':
			return '\t', 2
		}
		return rune(rest[1]), 2
	}
	r1, ok := hex4(rest[2:])
	if !ok {
		return utf8.RuneError, 2
	}
	if r1 < 0xD800 || r1 > 0xDFFF {
		return r1, 6
	}
	if r1 < 0xDC00 && len(rest) >= 12 && rest[6] == '\\' && rest[7] == 'u' {
		if r2, ok := hex4(rest[8:]); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
			return 0x10000 + (r1-0xD800)<<10 + (r2 - 0xDC00), 12
		}
	}
	return utf8.RuneError, 6
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// join is the path of key inside the object at path. The empty key is
// written "" so that the path still names something.
func join(path, key string) string {
	key = strings.ToValidUTF8(key, "\uFFFD")
	if key == "" {
		key = `""`
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}
