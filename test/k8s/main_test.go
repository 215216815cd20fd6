package k8s

import (
	"os"
	"testing"
)

// TestMain stops what the tests share (the loopback control plane, the
// built redlane binary, helm's private home) after the last test.
func TestMain(m *testing.M) {
	code := m.Run()
	stopControlPlane()
	cleanupShared()
	cleanupBinary()
	cleanupSchemas()
	os.Exit(code)
}
