package invite

import (
	"errors"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
)

func TestTokensAreLongRandomAndOnlyTheirHashIsKept(t *testing.T) {
	a, hashA, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || len(a) < 43 {
		t.Errorf("tokens %q and %q: want two different tokens of 256 bits", a, b)
	}
	inv := &Invite{TokenHash: hashA}
	if strings.Contains(hashA, a) || !inv.Matches(a) || inv.Matches(b) || inv.Matches(a+"x") {
		t.Errorf("hash %q does not match exactly its token", hashA)
	}
	if id := IDOf(hashA); !strings.HasPrefix(id, "i-") || len(id) != 18 {
		t.Errorf("id %q", id)
	}
}

// A sealed invitation changed without the key, in any field, is refused.
func TestSealRefusesAnyChange(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	inv := &Invite{ID: "i-0123456789abcdef", User: "dave", Groups: []string{"dev"}, Namespace: "development", TTL: "24h0m0s",
		Approval: ApprovalAuto, State: StateOpen, ExpiresAt: time.Now().Add(time.Hour)}
	data, mac, err := inv.Seal(key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Open(key, data, mac); err != nil || got.User != "dave" {
		t.Fatalf("an untouched invitation: %v %+v", err, got)
	}
	for name, edit := range map[string]func(string) string{
		"user":   func(s string) string { return strings.Replace(s, `"dave"`, `"admin"`, 1) },
		"groups": func(s string) string { return strings.Replace(s, `["dev"]`, `["dev","system:masters"]`, 1) },
		"state":  func(s string) string { return strings.Replace(s, `"open"`, `"used"`, 1) },
	} {
		if _, err := Open(key, []byte(edit(string(data))), mac); !errors.Is(err, ErrTampered) {
			t.Errorf("%s changed: %v, want ErrTampered", name, err)
		}
	}
	if _, err := Open([]byte(strings.Repeat("x", 32)), data, mac); !errors.Is(err, ErrTampered) {
		t.Errorf("sealed with another key: %v", err)
	}
}

func TestUsable(t *testing.T) {
	now := time.Now()
	for state, want := range map[string]string{StateOpen: "", StateUsed: "already used", StateRevoked: "revoked", StateRedeeming: "being used"} {
		inv := &Invite{State: state, ExpiresAt: now.Add(time.Hour), Creator: &authenticationv1.UserInfo{Username: "admin"}}
		if got := inv.Usable(now); want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("state %s: %q, want %q", state, got, want)
		}
	}
	if got := (&Invite{State: StateOpen, ExpiresAt: now, Creator: &authenticationv1.UserInfo{Username: "admin"}}).Usable(now); !strings.Contains(got, "expired") {
		t.Errorf("an expired invitation: %q", got)
	}
	if got := (&Invite{State: StateOpen, ExpiresAt: now.Add(time.Hour)}).Usable(now); !strings.Contains(got, "did not seal who made it") {
		t.Errorf("an invitation without its creator: %q", got)
	}
}
