package k8s

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/redlane/redlane/internal/telemetry"
)

// TestTracingValues renders ci/tracing-values.yaml and hands the pod's
// environment, as the kubelet would resolve it (downward API fields filled
// in, $(VAR) references expanded), to the same telemetry.SetupTracing the
// server runs: the values turn into a working exporter with the
// parent-based ratio sampler and the pod's resource attributes. The default
// values export nothing.
func TestTracingValues(t *testing.T) {
	tools := RequireTools(t)
	file := filepath.Join(ChartDir(), "ci", "tracing-values.yaml")
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    valuesCase
		want map[string]string // "" means absent
	}{
		{"default", valuesCase{Name: "default"}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_SAMPLER": ""}},
		{"tracing", valuesCase{Name: "tracing", Files: []string{file}}, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger-collector.observability:4318",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG":     "0.25",
			"OTEL_SERVICE_NAME":           "redlane",
			"OTEL_RESOURCE_ATTRIBUTES":    "k8s.pod.name=rel-redlane-0,k8s.namespace.name=redlane-test,k8s.node.name=node-1,deployment.environment.name=ci%20test",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deploys := Find(renderObjects(t, tools, tc.c), "Deployment", "")
			if len(deploys) != 1 {
				t.Fatalf("want one Deployment, got %d", len(deploys))
			}
			env := kubeletEnv(deploys[0])
			for k, want := range tc.want {
				if env[k] != want {
					t.Errorf("%s = %q, want %q", k, env[k], want)
				}
			}
			tr, err := telemetry.SetupTracing(context.Background(), func(k string) string { return env[k] }, "test")
			if err != nil {
				t.Fatalf("the pod's tracing environment is refused: %v", err)
			}
			defer tr.Shutdown(context.Background())
			if (tr != nil) != (tc.want["OTEL_EXPORTER_OTLP_ENDPOINT"] != "") {
				t.Errorf("tracing on = %v with OTEL_EXPORTER_OTLP_ENDPOINT %q", tr != nil, env["OTEL_EXPORTER_OTLP_ENDPOINT"])
			}
		})
	}
}

var kubeletRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// kubeletEnv is the first container's environment as the kubelet resolves
// it for pod rel-redlane-0 on node-1: downward API fields filled in, other
// references (secrets) as placeholders, and $(VAR) expanded from the
// variables defined before it.
func kubeletEnv(d Object) map[string]string {
	fields := map[string]string{"metadata.name": "rel-redlane-0", "metadata.namespace": testNamespace, "spec.nodeName": "node-1"}
	env := map[string]string{}
	for _, e := range d.PodSpec().List("containers", 0, "env") {
		m := Object(e.(map[string]any))
		name := m.Str("name")
		switch {
		case m.Get("value") != nil:
			env[name] = kubeletRef.ReplaceAllStringFunc(m.Str("value"), func(ref string) string {
				if v, ok := env[ref[2:len(ref)-1]]; ok {
					return v
				}
				return ref
			})
		case m.Get("valueFrom", "fieldRef") != nil:
			env[name] = fields[m.Str("valueFrom", "fieldRef", "fieldPath")]
		default:
			env[name] = strings.Repeat("p", 40)
		}
	}
	return env
}
