package k8s

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	schemasOnce sync.Once
	schemasDir  string
	schemasErr  error
	schemasN    int
)

// kubeconformSchemas generates the strict schemas once per test run.
func kubeconformSchemas(t *testing.T, tools Tools) string {
	t.Helper()
	schemasOnce.Do(func() {
		if schemasDir, schemasErr = os.MkdirTemp("", "redlane-schemas-"); schemasErr != nil {
			return
		}
		crds, _ := filepath.Glob(tools.Share("crds/*.yaml"))
		dir := filepath.Join(schemasDir, "v"+kubeVersion+"-standalone-strict")
		schemasN, schemasErr = WriteKubeconformSchemas(tools.Share("swagger.json"), crds, dir, true)
	})
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	if schemasN < 300 {
		t.Fatalf("only %d schemas generated", schemasN)
	}
	return schemasDir
}

func cleanupSchemas() {
	if schemasDir != "" {
		os.RemoveAll(schemasDir)
	}
}

func kubeconform(t *testing.T, tools Tools, manifest string) (string, string, error) {
	dir := kubeconformSchemas(t, tools)
	return Cmd{Bin: tools.Bin("kubeconform"), Stdin: []byte(manifest), Args: []string{
		"-strict", "-summary", "-kubernetes-version", kubeVersion,
		"-schema-location", dir + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json",
		"-",
	}}.Run()
}

// TestKubeconform: every rendered object, CRD kinds included, matches the
// Kubernetes 1.35 (and prometheus-operator) schemas with unknown fields
// forbidden; the check rejects an unknown field.
func TestKubeconform(t *testing.T) {
	tools := RequireTools(t)
	for _, c := range matrix(t) {
		t.Run(c.Name, func(t *testing.T) {
			out, errOut, err := kubeconform(t, tools, render(t, tools, c, testNamespace))
			if err != nil || !strings.Contains(out, "Invalid: 0, Errors: 0, Skipped: 0") {
				t.Fatalf("kubeconform: %v\n%s%s", err, out, errOut)
			}
		})
	}
	t.Run("rejects-unknown-field", func(t *testing.T) {
		manifest := render(t, tools, valuesCase{Name: "default"}, testNamespace)
		bad := strings.Replace(manifest, "      enableServiceLinks: false\n", "      enableServiceLinks: false\n      bogusField: true\n", 1)
		out, _, err := kubeconform(t, tools, bad)
		if err == nil || !strings.Contains(out, "bogusField") {
			t.Fatalf("kubeconform accepted an unknown field: %v\n%s", err, out)
		}
	})
}

// kubeScoreIgnored are kube-score checks this chart deliberately does not
// follow, each with the reason.
var kubeScoreIgnored = []string{
	// Pinned tags and digests make IfNotPresent correct; Always would make
	// every pod start depend on the registry.
	"container-image-pull-policy",
	// Redis and the app keep no per-pod state that needs an anti-affinity
	// requirement: the chart sets a *preferred* anti-affinity and topology
	// spread, which kube-score does not recognise for StatefulSets.
	"statefulset-has-host-podantiaffinity",
}

func kubeScore(t *testing.T, tools Tools, manifest string) (string, error) {
	args := []string{"score", "--output-format", "ci",
		// No CPU limits on purpose: CFS throttling hurts latency more than
		// it protects neighbours (requests still reserve CPU).
		"--ignore-container-cpu-limit",
	}
	for _, c := range kubeScoreIgnored {
		args = append(args, "--ignore-test", c)
	}
	out, errOut, err := Cmd{Bin: tools.Bin("kube-score"), Args: append(args, "-"), Stdin: []byte(manifest)}.Run()
	return out + errOut, err
}

// TestKubeScore: kube-score finds nothing critical in any values case
// beyond the explicitly ignored checks above.
func TestKubeScore(t *testing.T) {
	tools := RequireTools(t)
	for _, c := range matrix(t) {
		t.Run(c.Name, func(t *testing.T) {
			out, err := kubeScore(t, tools, render(t, tools, c, testNamespace))
			var critical []string
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "[CRITICAL]") {
					critical = append(critical, line)
				}
			}
			if err != nil || len(critical) > 0 {
				t.Fatalf("kube-score: %v\n%s", err, strings.Join(critical, "\n"))
			}
		})
	}
	// The check can fail: a container without a memory limit is critical.
	t.Run("flags-missing-limits", func(t *testing.T) {
		out, err := kubeScore(t, tools, render(t, tools, valuesCase{Name: "nolimits", Set: []string{"resources.limits=null"}}, testNamespace))
		if err == nil || !strings.Contains(out, "[CRITICAL]") {
			t.Fatalf("kube-score accepted a container without limits:\n%s", out)
		}
	})
}
