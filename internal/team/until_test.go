package team

import (
	"strings"
	"testing"
	"time"
)

const untilTeam = `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: dev
spec:
  ttl: 24h
  users:
  - name: ann
  - name: bob
    until: 2026-12-01T18:00:00Z
  - name: cy
    until: 2026-12-01T12:00:00Z
  serviceAccounts:
  - name: ci/deployer
    until: 2026-12-01T12:30:00Z
`

// A member's until: ends their access: before it, their credential lives
// no longer than it (but at least what the API takes); from it, they are
// as if the file no longer had them; and the soonest one still to come is
// when to look again.
func TestUntilEndsAMembersAccess(t *testing.T) {
	f, err := Parse("team.yaml", []byte(untilTeam))
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolved{File: f}
	r.members()
	now := time.Date(2026, 12, 1, 12, 25, 0, 0, time.UTC)
	at := r.At(now)
	var kept []string
	for _, m := range append(at.Users, at.ServiceAccounts...) {
		kept = append(kept, m.Name)
	}
	if got := strings.Join(kept, " "); got != "ann bob ci/deployer" {
		t.Errorf("members at %s: %s", now, got)
	}
	if got := strings.Join(at.Ended, " "); got != "cy" {
		t.Errorf("ended at %s: %s", now, got)
	}
	if got := r.NextEnd(now); !got.Equal(time.Date(2026, 12, 1, 12, 30, 0, 0, time.UTC)) {
		t.Errorf("next end: %s", got)
	}
	for _, tc := range []struct {
		member Member
		want   time.Duration
	}{
		{at.Users[0], 24 * time.Hour},                                                // no until
		{at.Users[1], 5*time.Hour + 35*time.Minute},                                  // until 18:00
		{at.ServiceAccounts[0], minTokenDuration},                                    // 5 minutes left: the least a token lives
		{Member{Lifetime: time.Hour, Until: now.Add(time.Minute)}, 10 * time.Minute}, // the CSR API's least
	} {
		if got := tc.member.LifetimeAt(now); got != tc.want {
			t.Errorf("%s's lifetime at %s: %s, want %s", tc.member.Name, now, got, tc.want)
		}
	}
	if later := r.At(now.Add(6 * time.Hour)); len(later.Users) != 1 || len(later.ServiceAccounts) != 0 || !r.NextEnd(now.Add(6*time.Hour)).IsZero() {
		t.Errorf("at 18:25 every until: has passed: %+v %+v", later.Users, later.ServiceAccounts)
	}
}

func TestUntilMustBeATime(t *testing.T) {
	_, err := Parse("team.yaml", []byte(strings.Replace(untilTeam, "2026-12-01T18:00:00Z", "tomorrow", 1)))
	if err == nil || !strings.Contains(err.Error(), `team.yaml:10: "tomorrow" is not a time such as 2026-12-01T18:00:00Z`) {
		t.Errorf("a bad until: %v", err)
	}
}
