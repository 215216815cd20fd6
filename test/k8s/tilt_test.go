package k8s

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tiltManifest is the part of `tilt alpha tiltfile-result` the tests read.
type tiltManifest struct {
	Name                 string
	Labels               map[string]string
	ResourceDependencies []string
	TriggerMode          int
	ImageTargets         []struct {
		Selector       string `json:"selector"`
		LiveUpdateSpec struct {
			Syncs []struct {
				LocalPath     string `json:"localPath"`
				ContainerPath string `json:"containerPath"`
			} `json:"syncs"`
		}
		BuildDetails struct {
			Target string   `json:"target"`
			Args   []string `json:"args"`
		}
	}
	DeployTarget struct {
		YAML                    string `json:"yaml"`
		PortForwardTemplateSpec *struct {
			Forwards []struct {
				LocalPort     int `json:"localPort"`
				ContainerPort int `json:"containerPort"`
			} `json:"forwards"`
		} `json:"portForwardTemplateSpec"`
	}
}

// tiltfileResult evaluates the Tiltfile with Tilt itself: no cluster and no
// Docker needed (KUBECONFIG points nowhere), helm from the toolset.
func tiltfileResult(t *testing.T, tools Tools, args ...string) ([]tiltManifest, string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := Cmd{Bin: tools.Bin("tilt"), Dir: RepoRoot(), Args: append([]string{"alpha", "tiltfile-result", "-f", "Tiltfile", "--"}, args...), Env: []string{
		"PATH=" + filepath.Join(tools.Dir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + home, "KUBECONFIG=" + filepath.Join(home, "no-kubeconfig"), "TILT_DISABLE_ANALYTICS=1",
	}}
	out, errOut, err := cmd.Run()
	if err != nil {
		return nil, errOut, err
	}
	var res struct {
		Manifests []tiltManifest
		Error     any
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("tiltfile-result output: %v\n%s", err, tail(out, 20))
	}
	if res.Error != nil {
		t.Fatalf("tiltfile-result error: %v", res.Error)
	}
	return res.Manifests, errOut, nil
}

func TestTiltfile(t *testing.T) {
	tools := RequireTools(t)
	for _, tc := range []struct {
		name      string
		args      []string
		resources []string
		redisPods string
	}{
		{"standalone", nil, []string{"go-test", "redlane", "redlane-compile", "redlane-redis", "smoke"}, "replicas: 1"},
		{"cluster", []string{"--redis=cluster"}, []string{"go-test", "redlane", "redlane-compile", "redlane-redis", "redlane-redis-cluster-init", "smoke"}, "replicas: 6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, errOut, err := tiltfileResult(t, tools, tc.args...)
			if err != nil {
				t.Fatalf("tilt alpha tiltfile-result: %v\n%s", err, errOut)
			}
			byName := map[string]tiltManifest{}
			var names []string
			for _, m := range ms {
				byName[m.Name] = m
				names = append(names, m.Name)
			}
			sort.Strings(names)
			if strings.Join(names, ",") != strings.Join(tc.resources, ",") {
				t.Fatalf("resources %v, want %v (nothing uncategorized)", names, tc.resources)
			}
			wantLabels := map[string]string{"redlane": "app", "redlane-redis": "redis", "redlane-compile": "build", "smoke": "test", "go-test": "test"}
			for name, label := range wantLabels {
				if _, ok := byName[name].Labels[label]; !ok {
					t.Errorf("%s has labels %v, want %s", name, byName[name].Labels, label)
				}
			}
			app := byName["redlane"]
			pf := app.DeployTarget.PortForwardTemplateSpec
			if pf == nil || len(pf.Forwards) != 1 || pf.Forwards[0].LocalPort != 8000 || pf.Forwards[0].ContainerPort != 8000 {
				t.Errorf("redlane port forwards = %+v, want 8000:8000", pf)
			}
			if len(app.ImageTargets) != 1 {
				t.Fatalf("redlane has %d image targets, want 1", len(app.ImageTargets))
			}
			img := app.ImageTargets[0]
			if img.Selector != "redlane-dev" || img.BuildDetails.Target != "dev" {
				t.Errorf("image target %q (Dockerfile target %q), want redlane-dev from target dev", img.Selector, img.BuildDetails.Target)
			}
			if s := img.LiveUpdateSpec.Syncs; len(s) != 1 || s[0].LocalPath != "bin/tilt/redlane" || s[0].ContainerPath != "/app/redlane" {
				t.Errorf("live update syncs %+v, want bin/tilt/redlane -> /app/redlane", s)
			}
			if !strings.Contains(app.DeployTarget.YAML, "image: redlane-dev") {
				t.Error("the Deployment does not use the dev image")
			}
			// Development runs on the embedded users database: one pod only
			// (TestUsersDatabase checks values-dev.yaml's database).
			if !strings.Contains(app.DeployTarget.YAML, "replicas: 1\n") {
				t.Error("the dev Deployment is not one replica, which its embedded users database needs")
			}
			deps := strings.Join(app.ResourceDependencies, ",")
			if !strings.Contains(deps, "redlane-compile") || !strings.Contains(deps, "redlane-redis") {
				t.Errorf("redlane depends on %v", app.ResourceDependencies)
			}
			if tc.name == "cluster" && !strings.Contains(deps, "redlane-redis-cluster-init") {
				t.Errorf("in cluster mode redlane must wait for the cluster Job: %v", app.ResourceDependencies)
			}
			// Redis's pods read their password from the Secret, and redlane
			// waits for Redis: the Secret must be deployed with Redis, or
			// neither ever starts (tilt ci on a real node found that).
			if !strings.Contains(byName["redlane-redis"].DeployTarget.YAML, "kind: Secret") {
				t.Error("the Secret is not deployed with redlane-redis")
			}
			if !strings.Contains(byName["redlane-redis"].DeployTarget.YAML, tc.redisPods) {
				t.Errorf("redlane-redis does not have %s", tc.redisPods)
			}
			if strings.Contains(app.DeployTarget.YAML+byName["redlane-redis"].DeployTarget.YAML, "helm.sh/hook: test") {
				t.Error("the helm test pod is deployed by Tilt")
			}
			if byName["go-test"].TriggerMode == 0 {
				t.Error("go-test must be a manual resource")
			}
		})
	}
	t.Run("options", func(t *testing.T) {
		extra := filepath.Join(t.TempDir(), "extra.yaml")
		if err := os.WriteFile(extra, []byte("redis:\n  image: {repository: registry.example/redis, tag: \"7.0\"}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ms, errOut, err := tiltfileResult(t, tools, "--port=9123", "--values="+extra, "--dev-base=localhost/base:debug")
		if err != nil {
			t.Fatalf("tilt alpha tiltfile-result: %v\n%s", err, errOut)
		}
		for _, m := range ms {
			switch m.Name {
			case "redlane":
				pf := m.DeployTarget.PortForwardTemplateSpec
				if pf == nil || len(pf.Forwards) != 1 || pf.Forwards[0].LocalPort != 9123 || pf.Forwards[0].ContainerPort != 8000 {
					t.Errorf("--port=9123: port forwards = %+v, want 9123:8000", pf)
				}
				if len(m.ImageTargets) != 1 || strings.Join(m.ImageTargets[0].BuildDetails.Args, " ") != "DEV_IMAGE=localhost/base:debug" {
					t.Errorf("--dev-base: image targets %+v, want build argument DEV_IMAGE=localhost/base:debug", m.ImageTargets)
				}
			case "redlane-redis":
				if !strings.Contains(m.DeployTarget.YAML, "image: registry.example/redis:7.0") {
					t.Error("--values: the extra values file is not applied")
				}
			}
		}
		for _, bad := range []string{"--port=http", "--port=0", "--port=70000"} {
			if _, errOut, err := tiltfileResult(t, tools, bad); err == nil || !strings.Contains(errOut, "--port must be a port number") {
				t.Errorf("%s accepted: %v %s", bad, err, errOut)
			}
		}
	})
	t.Run("rejects-unknown-mode", func(t *testing.T) {
		_, errOut, err := tiltfileResult(t, tools, "--redis=sharded")
		if err == nil || !strings.Contains(errOut, "--redis must be 'standalone' or 'cluster'") {
			t.Fatalf("bad --redis accepted: %v %s", err, errOut)
		}
	})
}
