package chaos

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redlane/redlane/internal/pgtest"
	"github.com/redlane/redlane/internal/redistest"
)

// TestShortProfile runs the short profile, as make chaos-short does: every
// scenario, at a size that fits make test (about three minutes). A
// scenario that fails fails the test with its line. Without redis-server or
// PostgreSQL the test is skipped, except under CI=true, where it fails.
func TestShortProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite takes about three minutes")
	}
	redistest.Require(t, "redis-server", "redis-cli")
	pgtest.Require(t)
	var out strings.Builder
	o := Options{Profile: "short", Out: &out}
	if testing.Verbose() {
		o.Verbose = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sum, err := Run(ctx, o)
	t.Logf("short profile (%s):\n%s", sum.Elapsed.Round(time.Second), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed > 0 || sum.Passed == 0 {
		t.Fatalf("%d passed, %d failed", sum.Passed, sum.Failed)
	}
}
