package docs

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/redlane/redlane/internal/web"
)

func buildDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := Build("test")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// The document validates against the OpenAPI 3.1 schema (libopenapi-validator
// embeds the official JSON Schema), and every $ref resolves.
func TestDocumentIsValidOpenAPI31(t *testing.T) {
	b, err := Build("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi version %q, want 3.1.x", v)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("building the model (unresolved refs?): %v", err)
	}
	if model.Model.Info.Version != "1.2.3" {
		t.Errorf("info.version = %q, want the build version", model.Model.Info.Version)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	// The validator must be able to fail: the same document without info
	// and with a response lacking its description is refused.
	var broken map[string]any
	_ = json.Unmarshal(b, &broken)
	delete(broken, "info")
	broken["paths"].(map[string]any)["/healthz"].(map[string]any)["get"].(map[string]any)["responses"].(map[string]any)["200"] = map[string]any{}
	bb, _ := json.Marshal(broken)
	if bdoc, err := libopenapi.NewDocument(bb); err == nil {
		if bv, _ := validator.NewValidator(bdoc); bv != nil {
			if ok, _ := bv.ValidateDocument(); ok {
				t.Fatal("a document without info validated: the check is blind")
			}
		}
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  at %s (%s): %s", se.FieldPath, se.KeywordLocation, se.Reason)
			}
		}
	}
}

// Every operation has a unique operationId, a summary and tags that the
// document declares; every security requirement names a declared scheme.
func TestOperationsAreComplete(t *testing.T) {
	doc := buildDoc(t)
	tags := map[string]bool{}
	for _, tg := range doc["tags"].([]any) {
		tags[tg.(map[string]any)["name"].(string)] = true
	}
	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	ids := map[string]string{}
	for path, item := range doc["paths"].(map[string]any) {
		for _, m := range methods {
			op, ok := item.(map[string]any)[m].(map[string]any)
			if !ok {
				continue
			}
			where := strings.ToUpper(m) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q also used by %s", where, id, other)
			}
			ids[id] = where
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("%s: no summary", where)
			}
			opTags, _ := op["tags"].([]any)
			if len(opTags) == 0 {
				t.Errorf("%s: no tags", where)
			}
			for _, tg := range opTags {
				if !tags[tg.(string)] {
					t.Errorf("%s: tag %q is not declared in the document's tags", where, tg)
				}
			}
			sec, _ := op["security"].([]any)
			for _, req := range sec {
				for name := range req.(map[string]any) {
					if schemes[name] == nil {
						t.Errorf("%s: security scheme %q is not declared", where, name)
					}
				}
			}
			rs := op["responses"].(map[string]any)
			for _, code := range []string{"429", "500", "503"} {
				if rs[code] == nil {
					t.Errorf("%s: no %s response", where, code)
				}
			}
		}
	}
}

// The Problem type enum is exactly the set of slugs the code answers with:
// a new slug in code fails here until it is documented, and a documented
// slug that no code uses any more fails too.
func TestProblemTypesMatchCode(t *testing.T) {
	doc := buildDoc(t)
	enum := doc["components"].(map[string]any)["schemas"].(map[string]any)["Problem"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
	documented := map[string]bool{}
	for _, e := range enum {
		documented[strings.TrimPrefix(e.(string), web.ProblemBase)] = true
	}
	used := slugsInCode(t, filepath.Join("..", ".."))
	if len(used) < 10 {
		t.Fatalf("found only %d slugs in the code: %v; is the scan broken?", len(used), used)
	}
	for slug, where := range used {
		if !documented[slug] {
			t.Errorf("problem type %q (used at %s) is not in any openapi/*.yaml x-problem-types", slug, where)
		}
	}
	for slug := range documented {
		if _, ok := used[slug]; !ok {
			t.Errorf("problem type %q is documented but no code answers with it", slug)
		}
	}
}

// slugsInCode finds problem slugs written as string literals in the
// module's non-test Go files: the second argument of web.Errorf (Errorf
// inside package web), the code of errdefs.Conflict and Forbidden, Slug fields of
// web.Error literals, Code fields of errdefs.Error literals and the slug
// fields of web's table of default slugs per kind.
func slugsInCode(t *testing.T, root string) map[string]string {
	t.Helper()
	found := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		add := func(e ast.Expr) {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					found[s] = fset.Position(lit.Pos()).String()
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				name := ""
				switch fn := n.Fun.(type) {
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok && x.Name == "web" {
						name = fn.Sel.Name
					}
					if x, ok := fn.X.(*ast.Ident); ok && x.Name == "errdefs" && (fn.Sel.Name == "Conflict" || fn.Sel.Name == "Forbidden") && len(n.Args) >= 1 {
						add(n.Args[0])
					}
				case *ast.Ident:
					if f.Name.Name == "web" {
						name = fn.Name
					}
				}
				if name == "Errorf" && len(n.Args) >= 2 {
					add(n.Args[1])
				}
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "errdefs" {
						for _, e := range n.Elts {
							if kv, ok := e.(*ast.KeyValueExpr); ok {
								if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Code" {
									add(kv.Value)
								}
							}
						}
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && (k.Name == "Slug" || k.Name == "slug") {
					add(n.Value)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// Fragments cannot define the same operation or component twice.
func TestMergeRefusesDuplicates(t *testing.T) {
	doc := map[string]any{"paths": map[string]any{"/a": map[string]any{"get": map[string]any{}}}, "components": map[string]any{"schemas": map[string]any{"X": map[string]any{}}}}
	if err := merge(doc, fragment{Paths: map[string]map[string]any{"/a": {"get": map[string]any{}}}}); err == nil {
		t.Error("a second GET /a was merged")
	}
	if err := merge(doc, fragment{Paths: map[string]map[string]any{"/a": {"post": map[string]any{}}}}); err != nil {
		t.Errorf("POST /a beside GET /a: %v", err)
	}
	if err := merge(doc, fragment{Components: map[string]map[string]any{"schemas": {"X": map[string]any{}}}}); err == nil {
		t.Error("a second schema X was merged")
	}
}

// The feature files are named NN-feature.yaml and read in that order.
func TestSpecFileNames(t *testing.T) {
	names, err := fs.Glob(specFiles, "openapi/*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, n := range names {
		base := filepath.Base(n)
		if len(base) < 8 || base[2] != '-' || !strings.HasSuffix(base, ".yaml") || strings.Trim(base[:2], "0123456789") != "" {
			t.Errorf("%s: name files NN-feature.yaml", n)
		}
	}
	if !slices.Contains(names, "openapi/00-base.yaml") {
		t.Error("no openapi/00-base.yaml")
	}
	if _, err := os.Stat("openapi/00-base.yaml"); err != nil {
		t.Error(err)
	}
}

// BenchmarkNew measures what the docs cost at startup: merging the
// document and indexing the embedded files.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New("bench"); err != nil {
			b.Fatal(err)
		}
	}
}
