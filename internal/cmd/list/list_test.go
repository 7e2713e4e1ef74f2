package list

import (
	"strings"
	"testing"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/records"
)

func TestSelect(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	revoked := now.Add(-time.Hour)
	rec := func(id string, lifetime, left time.Duration) records.Record {
		return records.Record{ID: id, NotBefore: now.Add(left - lifetime), NotAfter: now.Add(left)}
	}
	recs := []records.Record{
		rec("fresh", 24*time.Hour, 23*time.Hour),
		rec("late", 24*time.Hour, 2*time.Hour),
		rec("gone", 24*time.Hour, -time.Minute),
		{ID: "pulled", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * time.Hour), Revoked: &revoked},
		rec("long", 90*24*time.Hour, 30*24*time.Hour),
	}
	show := func(entries []Entry) string {
		var out []string
		for _, e := range entries {
			out = append(out, e.ID+"="+e.Status)
		}
		return strings.Join(out, " ")
	}
	for name, tc := range map[string]struct {
		window            time.Duration
		expiringOnly, all bool
		want              string
	}{
		"default":              {want: "fresh=active late=expiring long=active"},
		"all":                  {all: true, want: "fresh=active late=expiring gone=expired pulled=revoked long=active"},
		"expiring by lifetime": {expiringOnly: true, want: "late=expiring"},
		"expiring within 7d":   {window: 7 * 24 * time.Hour, expiringOnly: true, want: "fresh=expiring late=expiring"},
		"expiring within 3h":   {window: 3 * time.Hour, expiringOnly: true, want: "late=expiring"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := show(Select(recs, now, tc.window, tc.expiringOnly, tc.all)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
