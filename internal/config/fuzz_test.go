package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/config"
)

// FuzzParse feeds any document to the strict loader (YAML or JSON): it
// never panics, a document it refuses says which field, and one it accepts
// goes through defaults and validation without panicking either.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := config.Parse(doc)
		if err != nil {
			if es, ok := config.AsErrors(err); ok {
				for _, e := range es {
					if e.Path == "" {
						t.Fatalf("an error without a field path: %v", e)
					}
				}
			}
			return
		}
		config.SetDefaults(c)
		_ = config.Validate(c)
	})
}

// FuzzEnv feeds any value to one of the environment variables that
// override the document, and any .env file: Load never panics, and a value
// it refuses is named by its variable.
func FuzzEnv(f *testing.F) {
	f.Fuzz(func(t *testing.T, which uint8, value string, dotenv []byte) {
		name := config.EnvVars[int(which)%len(config.EnvVars)].Name
		env := map[string]string{name: value}
		getenv := func(k string) string { return env[k] }
		p := filepath.Join(t.TempDir(), ".env")
		if err := os.WriteFile(p, dotenv, 0o600); err != nil {
			t.Fatal(err)
		}
		withDot, err := config.WithDotEnv(getenv, p)
		if err != nil {
			return // a .env that does not parse is refused as a whole
		}
		_, err = config.Load("", withDot)
		if es, ok := config.AsErrors(err); ok {
			for _, e := range es {
				if e.Path == "" || strings.TrimSpace(e.Message) == "" {
					t.Fatalf("an error without a field path or message: %#v", e)
				}
			}
		}
	})
}
