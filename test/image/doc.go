// Package image runs the container images `make image` builds the way the
// chart deploys them: the pods `helm template` renders are started in podman
// (runc, its own network namespace per pod on podman's bridge) with exactly
// the rendered image, command, args, env, mounts, user and security context,
// and driven from outside through a port published on 127.0.0.1.
//
// podman stands in for the kubelet here, so what a kubelet does that podman
// does not is done by the test, and only that: ConfigMap volumes are written
// in the kubelet's layout (the ..data symlink swapped atomically on change),
// Service names resolve to the Redis pod's address (--add-host), probes are
// polled by the test, and preStop's sleep is a wait before SIGTERM.
//
// TestKubeletRunsImages goes one step further: a real kubelet with
// containerd runs the images as a (static) pod.
//
// Without podman, containerd, the kubelet or the images the tests skip
// locally (make image, test/k8s/kubelet.sh) and fail under CI=true, like the
// other packaging tests.
package image
