package k8s

import (
	"io"
	"log"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is an OCI distribution registry on 127.0.0.1, in this process
// (go-containerregistry's, blobs in memory), for a node to pull from: no
// registry outside is reachable here.
type Registry struct {
	// Addr is its host:port, the first part of every image it holds.
	Addr string
}

// StartRegistry starts a registry that stops when the test ends.
func StartRegistry(t *testing.T) *Registry {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return &Registry{Addr: ln.Addr().String()}
}

// Push copies a podman image (localhost/NAME:TAG) into the registry as
// ADDR/NAME:TAG, which it returns.
func (r *Registry) Push(t *testing.T, image string) string {
	t.Helper()
	ref := r.Addr + "/" + strings.TrimPrefix(image, "localhost/")
	out, err := exec.Command("podman", "push", "--quiet", "--tls-verify=false", image, "docker://"+ref).CombinedOutput()
	if err != nil {
		t.Fatalf("podman push %s %s: %v\n%s", image, ref, err, out)
	}
	return ref
}
