package web_test

import (
	"errors"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/redlane/redlane/internal/web"
)

func TestQueryIntNamesTheParameter(t *testing.T) {
	for _, tc := range []struct {
		query   string
		lo, hi  int64
		want    int64
		wantErr string
	}{
		{"", 1, 500, 50, ""},
		{"limit=7", 1, 500, 7, ""},
		{"limit=500", 1, 500, 500, ""},
		{"limit=0", 1, 500, 0, "limit must be an integer 1-500"},
		{"limit=501", 1, 500, 0, "limit must be an integer 1-500"},
		{"limit=x", 1, 500, 0, "limit must be an integer 1-500"},
		{"limit=9007199254740993", 0, math.MaxInt64, 9007199254740993, ""},
		{"limit=-1", 0, math.MaxInt64, 0, "limit must be an integer of at least 0"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tc.query, nil)
			n, err := web.QueryInt64(r, "limit", 50, tc.lo, tc.hi)
			var we *web.Error
			switch {
			case tc.wantErr == "" && (err != nil || n != tc.want):
				t.Fatalf("= %d, %v; want %d", n, err, tc.want)
			case tc.wantErr != "" && (!errors.As(err, &we) || we.Status != 400 || we.Fields["limit"] != tc.wantErr):
				t.Fatalf("= %d, %v; want a 400 on limit: %s", n, err, tc.wantErr)
			}
			if tc.hi <= math.MaxInt32 {
				m, err2 := web.QueryInt(r, "limit", 50, int(tc.lo), int(tc.hi))
				if int64(m) != n || (err2 == nil) != (err == nil) {
					t.Fatalf("QueryInt = %d, %v; QueryInt64 = %d, %v", m, err2, n, err)
				}
			}
		})
	}
}
