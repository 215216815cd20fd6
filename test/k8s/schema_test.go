package k8s

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigDocumentPassesConfigCheck: the RedlaneConfig document the chart
// renders into its ConfigMap is accepted by `redlane config check` (strict:
// unknown fields, types, values) for every values combination, and holds no
// secret.
func TestConfigDocumentPassesConfigCheck(t *testing.T) {
	tools := RequireTools(t)
	bin := redlaneBinary(t)
	for _, c := range matrix(t) {
		t.Run(c.Name, func(t *testing.T) {
			objs := renderObjects(t, tools, c)
			cms := Find(objs, "ConfigMap", "-config")
			if len(cms) != 1 {
				t.Fatalf("want one config ConfigMap, got %d", len(cms))
			}
			doc := cms[0].Str("data", "config.yaml")
			f := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			// The environment the pod gets: secret references become
			// placeholders of a valid shape.
			deploys := Find(objs, "Deployment", "")
			if len(deploys) != 1 {
				t.Fatalf("want one Deployment, got %d", len(deploys))
			}
			env := podEnv(deploys[0])
			out := Cmd{Bin: bin, Args: []string{"config", "check", "-f", f}, Dir: t.TempDir(), Env: env}.Must(t)
			if !strings.Contains(out, "valid") {
				t.Fatalf("config check: %s", out)
			}
			for _, s := range Find(objs, "Secret", "") {
				for _, v := range s.Map("stringData") {
					if str, _ := v.(string); len(str) >= 8 && strings.Contains(doc, str) {
						t.Errorf("config document contains a secret value from Secret %s", s.Name())
					}
				}
			}
			// The chart never lets the app fall back to an embedded Redis.
			if !strings.Contains(doc, "disabled: true") {
				t.Errorf("config document does not disable the embedded Redis:\n%s", doc)
			}
		})
	}
}

// podEnv is the environment of a Deployment's first container, secret
// references replaced by placeholders.
func podEnv(d Object) []string {
	placeholders := map[string]string{
		"DATABASE_URL": "postgres://redlane:placeholder@db:5432/redlane",
		"REDIS_URL":    "redis://redis:6379/0",
	}
	var env []string
	for _, e := range d.PodSpec().List("containers", 0, "env") {
		m := Object(e.(map[string]any))
		name := m.Str("name")
		switch {
		case m.Get("value") != nil:
			env = append(env, name+"="+m.Str("value"))
		case placeholders[name] != "":
			env = append(env, name+"="+placeholders[name])
		default:
			env = append(env, name+"="+strings.Repeat("p", 40))
		}
	}
	return env
}
