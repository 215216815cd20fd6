package k8s

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// dockerfileBuild extracts the builder stage's `go build` command and its
// environment from the Dockerfile, so the tests build the binary exactly as
// the image does.
func dockerfileBuild(dockerfile string) (env []string, args []string, err error) {
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		return nil, nil, err
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	envLine := regexp.MustCompile(`(?m)^ENV (CGO_ENABLED=\S+.*)$`).FindStringSubmatch(text)
	if envLine == nil {
		return nil, nil, fmt.Errorf("Dockerfile: no ENV CGO_ENABLED=... line in the builder stage")
	}
	env = strings.Fields(envLine[1])
	run := regexp.MustCompile(`(?m)^RUN .*?(go build .*\./cmd/redlane)\s*$`).FindStringSubmatch(text)
	if run == nil {
		return nil, nil, fmt.Errorf("Dockerfile: no RUN ... go build ... ./cmd/redlane")
	}
	// Split respecting the double-quoted -ldflags argument.
	for _, f := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(run[1], -1) {
		args = append(args, strings.Trim(f, `"`))
	}
	return env, args[2:], nil // drop "go build"
}

// redlaneBinary builds cmd/redlane once, with the Dockerfile's flags.
func redlaneBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		env, args, err := dockerfileBuild(filepath.Join(RepoRoot(), "Dockerfile"))
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "redlane-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "redlane")
		for i, a := range args {
			a = strings.ReplaceAll(a, "${VERSION}", "v0.0.0-k8stest")
			if a == "/out/redlane" {
				a = binPath
			}
			args[i] = a
		}
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func cleanupBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}
