// Package k8s verifies the Kubernetes packaging (charts/redlane, k8s/,
// Dockerfile, Tiltfile) with the real tools, built at pinned versions by
// tools.sh: helm lint and template over a values matrix, kubeconform against
// schemas generated from Kubernetes' own OpenAPI document, kube-score, a
// loopback control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok) for server-side dry runs and helm install, upgrade,
// test and uninstall, and Tilt evaluating the Tiltfile. The chart's
// values.schema.json is generated (and checked for staleness) by
// tools/chartschema, not here: test/ holds tests of the packaging only.
//
// Without the tools the tests skip locally (run test/k8s/tools.sh) and fail
// under CI=true.
package k8s
