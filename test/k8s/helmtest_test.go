package k8s

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/redistest"
)

// TestHelmTestPodCommand runs the command of the chart's `helm test` pod on
// this machine against a served instance. In TestHelmLifecycle, `helm test`
// runs on the loopback control plane, where kwok fakes the node: the test
// pod is marked Succeeded by a kwok stage (testdata/kwok-helm-test-stage.yaml)
// and no container runs, so it cannot fail on the app's behaviour. What is
// real there is the chart's objects, their acceptance by a kube-apiserver
// and the hook's lifecycle; what is real here is the command: it succeeds
// against a ready instance and fails against one whose Redis is gone.
func TestHelmTestPodCommand(t *testing.T) {
	tools := RequireTools(t)
	redistest.Require(t, "redis-server", "wget")
	objs := renderObjects(t, tools, valuesCase{Name: "default"})
	pods := Find(objs, "Pod", "-test-readyz")
	if len(pods) != 1 {
		t.Fatalf("want the chart's one test pod, got %d", len(pods))
	}
	var command []string
	for _, a := range pods[0].List("spec", "containers", 0, "command") {
		command = append(command, fmt.Sprint(a))
	}
	target := "http://" + testRelease + "-redlane:8000/readyz"
	if len(command) == 0 || command[len(command)-1] != target {
		t.Fatalf("test pod command %q does not end with %s", command, target)
	}

	rs := redistest.Start(t)
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	srv := exec.Command(redlaneBinary(t), "serve", "--address", addr, "--env-file", filepath.Join(t.TempDir(), "none.env"))
	srv.Env = []string{"PATH=/usr/bin:/bin", "REDIS_URL=" + rs.URL(), "LOG_FORMAT=json"}
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logs strings.Builder
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = srv.Wait(); close(exited) }()
	t.Cleanup(func() { _ = srv.Process.Kill(); <-exited })
	readyz := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
			select {
			case <-exited:
				t.Fatalf("%s: redlane exited: %v\n%s", what, waitErr, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 2m\n%s", what, logs.String())
			}
		}
	}
	run := func() (string, error) {
		args := append(append([]string{}, command[1:len(command)-1]...), "http://"+addr+"/readyz")
		out, err := exec.Command(command[0], args...).CombinedOutput()
		return string(out), err
	}

	waitUntil("instance ready", func() bool { return readyz() == 200 })
	if out, err := run(); err != nil || !strings.Contains(out, `"status":"ready"`) {
		t.Fatalf("the test pod's command against a ready instance: %v\n%s", err, out)
	}
	rs.Stop()
	waitUntil("instance not ready without Redis", func() bool { return readyz() == 503 })
	if out, err := run(); err == nil {
		t.Fatalf("the test pod's command succeeded against an instance whose Redis is gone:\n%s", out)
	}
}
