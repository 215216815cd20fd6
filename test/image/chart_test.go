package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redlane/redlane/test/k8s"
	"sigs.k8s.io/yaml"
)

// The images `make image` builds (tools/image/build.sh and bases.sh).
const (
	appImage   = "localhost/redlane:local"
	redisImage = "localhost/redlane-redis:7.0.15-debian12"
)

// TestChartPodsRunInPodman starts the rendered Redis StatefulSet pod and
// Redlane Deployment pod from the built images, exactly as rendered, and
// drives them: Redis runs the rendered redis.conf; Redlane (read-only root,
// uid 65532) becomes ready, serves the seed's users/login/session flow and a
// WebSocket message, applies a changed ConfigMap live, and on SIGTERM after
// the preStop sleep turns unready and exits 0 within the grace period.
func TestChartPodsRunInPodman(t *testing.T) {
	p := RequirePodman(t, appImage, redisImage)
	tools := k8s.RequireTools(t)
	release := fmt.Sprintf("img%d", os.Getpid()%100000)
	objs := rendered(t, tools, release, k8s.LocalImagesValues())
	app := one(t, objs, "Deployment", release+"-redlane")
	redisSet := one(t, objs, "StatefulSet", release+"-redlane-redis")

	redis := StartPod(t, p, objs, redisSet, redisSet.Name()+"-0", PodOptions{})
	waitExecProbe(t, p, redis, "redis", 60*time.Second)
	t.Run("redis-runs-rendered-conf", func(t *testing.T) {
		cli := func(args ...string) string {
			return p.Must(t, append([]string{"exec", redis.Name + "-redis", "redis-cli", "--no-auth-warning"}, args...)...)
		}
		if got := cli("CONFIG", "GET", "maxmemory"); got != "maxmemory\n50331648" {
			t.Errorf("CONFIG GET maxmemory = %q, want 48mb = 50331648", got)
		}
		if got := cli("CONFIG", "GET", "maxmemory-policy"); got != "maxmemory-policy\nallkeys-lfu" {
			t.Errorf("CONFIG GET maxmemory-policy = %q", got)
		}
		if got := cli("CONFIG", "GET", "appendonly"); got != "appendonly\nyes" {
			t.Errorf("CONFIG GET appendonly = %q", got)
		}
		if got := cli("FLUSHALL"); !strings.Contains(got, "unknown command") {
			t.Errorf("FLUSHALL = %q, want it disabled by the rendered rename-command", got)
		}
		if got := cli("INFO", "server"); !strings.Contains(got, "redis_version:7.0.15") {
			t.Errorf("INFO server does not report 7.0.15:\n%s", got)
		}
		// Without the Secret's password Redis refuses commands.
		out, _ := p.Out(time.Minute, "exec", redis.Name+"-redis", "sh", "-c", "REDISCLI_AUTH= redis-cli -h "+redis.IP+" GET k")
		if !strings.Contains(out, "NOAUTH") {
			t.Errorf("GET without password over the pod network = %q, want NOAUTH", out)
		}
		if user := p.Must(t, "exec", redis.Name+"-redis", "id", "-u"); user != strconv.Itoa(intField(redisSet.PodSpec(), "securityContext", "runAsUser")) {
			t.Errorf("redis runs as uid %s", user)
		}
	})
	if t.Failed() {
		return
	}

	// The cluster's DNS: both Redis Services name the Redis pod.
	hosts := map[string]string{}
	for _, s := range objs {
		if s.Kind() == "Service" && strings.HasPrefix(s.Name(), release+"-redlane-redis") {
			hosts[s.Name()] = redis.IP
		}
	}
	start := time.Now()
	pod := StartPod(t, p, objs, app, app.Name()+"-0", PodOptions{Hosts: hosts, Publish: []string{"http"}})
	base := fmt.Sprintf("http://127.0.0.1:%d", pod.Ports["http"])
	container := app.PodSpec().List("containers")[0].(map[string]any)
	readyPath := k8s.Object(container).Str("readinessProbe", "httpGet", "path")
	waitHTTP(t, base+readyPath, http.StatusOK, 60*time.Second)
	t.Logf("%s ready %.1f s after the pod was created", readyPath, time.Since(start).Seconds())

	ctr := pod.Name + "-redlane"
	t.Run("runs-read-only-as-nonroot", func(t *testing.T) {
		got := p.Must(t, "inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", ctr)
		if got != "65532:65532 true" {
			t.Errorf("user and read-only root = %q, want 65532:65532 true", got)
		}
		// podman diff lists the mount points the runtime created (and their
		// parents); anything else would be a write by the program.
		var mounts []string
		for _, m := range k8s.Object(container).List("volumeMounts") {
			mounts = append(mounts, k8s.Object(m.(map[string]any)).Str("mountPath"))
		}
		for _, line := range strings.Split(p.Must(t, "diff", ctr), "\n") {
			path := strings.TrimSpace(line[min(1, len(line)):])
			if path == "" || slices.ContainsFunc(mounts, func(m string) bool { return m == path || strings.HasPrefix(m, path+"/") }) {
				continue
			}
			t.Errorf("the container changed its file system: %s", line)
		}
	})

	adminToken := envOf(t, pod.Env("redlane"), "ADMIN_TOKEN")
	var token string
	t.Run("seed-flow", func(t *testing.T) {
		for i, want := range []string{"MISS", "HIT"} {
			resp, body := do(t, "GET", base+"/users/1", "", nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cache") != want {
				t.Fatalf("GET /users/1 #%d: %d X-Cache=%q %s", i+1, resp.StatusCode, resp.Header.Get("X-Cache"), body)
			}
		}
		resp, body := do(t, "POST", base+"/auth/login", "", map[string]any{"username": "user1", "password": "password123"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		var login struct {
			Token string `json:"session_token"`
		}
		if err := json.Unmarshal(body, &login); err != nil || login.Token == "" {
			t.Fatalf("login body %s: %v", body, err)
		}
		token = login.Token
		resp, body = do(t, "GET", base+"/auth/session", token, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"user1"`) {
			t.Fatalf("GET /auth/session: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("websocket-message", func(t *testing.T) {
		if token == "" {
			t.Skip("no session from the seed flow")
		}
		ws, resp, err := websocket.DefaultDialer.Dial(strings.Replace(base, "http", "ws", 1)+"/ws/chat/room1",
			http.Header{"Authorization": {"Bearer " + token}})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		defer ws.Close()
		text := "hello from " + pod.Name
		if err := ws.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("no message frame back: %v", err)
			}
			var f struct{ Type, Room, Sender, Text string }
			_ = json.Unmarshal(b, &f)
			if f.Type == "message" && f.Text == text {
				if f.Sender != "user1" || f.Room != "room1" {
					t.Errorf("message frame %s", b)
				}
				return
			}
		}
	})

	t.Run("config-reload", func(t *testing.T) {
		status := func() (gen float64, level string, ok bool) {
			_, body := do(t, "GET", base+"/admin/config", adminToken, nil)
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("/admin/config: %s", body)
			}
			st := k8s.Object(doc)
			lvl := st.Str("config", "spec", "log", "level")
			if lvl == "" {
				lvl = st.Str("config", "log", "level")
			}
			g, _ := st.Get("status", "generation").(float64)
			okv, _ := st.Get("status", "lastReloadSuccessful").(bool)
			return g, lvl, okv
		}
		gen0, level0, _ := status()
		if level0 == "debug" {
			t.Fatalf("log level is already debug")
		}
		cmName := k8s.Object(container).Str("volumeMounts", 0, "name")
		var cmObj k8s.Object
		for _, v := range app.PodSpec().List("volumes") {
			if vo := k8s.Object(v.(map[string]any)); vo.Str("name") == cmName {
				cmObj = one(t, objs, "ConfigMap", vo.Str("configMap", "name"))
			}
		}
		data := cmObj.Map("data")
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(data["config.yaml"].(string)), &doc); err != nil {
			t.Fatal(err)
		}
		spec := doc["spec"].(map[string]any)
		logCfg, _ := spec["log"].(map[string]any)
		if logCfg == nil {
			logCfg = map[string]any{}
			spec["log"] = logCfg
		}
		logCfg["level"] = "debug"
		changed, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		pod.UpdateConfigMap(t, cmName, pod.Volume(cmName), map[string]any{"config.yaml": string(changed)},
			intField(app.PodSpec(), "securityContext", "fsGroup"))
		deadline := time.Now().Add(20 * time.Second)
		for {
			gen, level, ok := status()
			if gen > gen0 && level == "debug" && ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("config not reloaded: generation %v -> %v, level %q, last reload ok %v", gen0, gen, level, ok)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("sigterm-drains-within-grace", func(t *testing.T) {
		grace := time.Duration(intField(app.PodSpec(), "terminationGracePeriodSeconds")) * time.Second
		preStop := time.Duration(k8s.Object(container).Get("lifecycle", "preStop", "sleep", "seconds").(int)) * time.Second
		// The kubelet: preStop (a sleep), then SIGTERM, SIGKILL at the end of
		// the grace period that both share.
		begin := time.Now()
		time.Sleep(preStop)
		if resp, _ := do(t, "GET", base+readyPath, "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("unready before SIGTERM: %d", resp.StatusCode)
		}
		p.Must(t, "kill", "--signal", "TERM", ctr)
		sawUnready := false
		for time.Since(begin) < grace {
			running := p.Must(t, "inspect", "--format", "{{.State.Running}}", ctr)
			if running != "true" {
				break
			}
			if resp, err := get(base + readyPath); err == nil && resp == http.StatusServiceUnavailable {
				sawUnready = true
			}
			time.Sleep(100 * time.Millisecond)
		}
		took := time.Since(begin)
		state := p.Must(t, "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", ctr)
		if state != "false 0" {
			t.Fatalf("after %s (grace %s): running/exit code = %q", took.Round(100*time.Millisecond), grace, state)
		}
		if !sawUnready {
			t.Errorf("%s never answered 503 between SIGTERM and exit", readyPath)
		}
		t.Logf("preStop %s + drain and shutdown: exited 0 after %s of a %s grace period", preStop, took.Round(100*time.Millisecond), grace)
	})
}

// waitExecProbe runs the container's rendered exec readinessProbe until it
// succeeds.
func waitExecProbe(t *testing.T, p *Podman, pod *Pod, container string, timeout time.Duration) {
	t.Helper()
	var cmd []string
	for _, c := range pod.Spec.List("containers") {
		co := k8s.Object(c.(map[string]any))
		if co.Str("name") == container {
			for _, a := range co.List("readinessProbe", "exec", "command") {
				cmd = append(cmd, a.(string))
			}
		}
	}
	if cmd == nil {
		t.Fatalf("container %s has no exec readinessProbe", container)
	}
	deadline := time.Now().Add(timeout)
	for {
		_, err := p.Out(30*time.Second, append([]string{"exec", pod.Name + "-" + container}, cmd...)...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness probe of %s never passed: %v", container, err)
		}
		time.Sleep(time.Second)
	}
}

func waitHTTP(t *testing.T, url string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, err := get(url)
		if err == nil && code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %v, want %d", url, code, err, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

func get(url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func do(t *testing.T, method, url, bearer string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func envOf(t *testing.T, env []string, name string) string {
	t.Helper()
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s in the container's env", name)
	return ""
}
