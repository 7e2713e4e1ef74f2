package controller

import (
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
)

func TestWebhookAllowed(t *testing.T) {
	c := &Controller{WebhookAllow: []string{"https://hooks.example.com/services/", "http://127.0.0.1:9000/hooks/"}}
	for url, want := range map[string]bool{
		"https://hooks.example.com/services/T0/B0/x":  true,
		"http://127.0.0.1:9000/hooks/team":            true,
		"http://hooks.example.com/services/T0":        false, // another scheme
		"https://hooks.example.com.evil.io/services/": false, // another host
		"https://hooks.example.com/servicesX/a":       false, // beside the path, not under it
		"https://hooks.example.com/other":             false,
		"https://user:pw@hooks.example.com/services/": false, // credentials in the URL
		"http://127.0.0.1:9001/hooks/team":            false, // another port
		"http://169.254.169.254/latest/meta-data/":    false,
		"::not a url": false,
	} {
		if got := c.webhookAllowed(url); got != want {
			t.Errorf("webhookAllowed(%q) = %v, want %v", url, got, want)
		}
	}
	if (&Controller{}).webhookAllowed("https://hooks.example.com/services/x") {
		t.Error("a controller allowed no webhook posts to one")
	}
}

func TestLinkKeysAreValidAndDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, user := range []string{"dave", "dave@example.com", "dave_example.com", "dave example.com", "Ärger", "a/b", "a_b"} {
		key := linkKey(user)
		if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
			t.Errorf("linkKey(%q) = %q, not a Secret key: %v", user, key, errs)
		}
		if other, ok := seen[key]; ok {
			t.Errorf("%q and %q share the key %q", user, other, key)
		}
		seen[key] = user
	}
	if linkKey("dave") != "dave" {
		t.Errorf("a user name that is a valid key is not its own key: %q", linkKey("dave"))
	}
}

func TestTeamTokensAreDerivedOnce(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	a := invite.TeamToken(key, "uid-1", "dave", 1)
	if a != invite.TeamToken(key, "uid-1", "dave", 1) {
		t.Fatal("the same invitation derives two tokens")
	}
	for name, other := range map[string]string{
		"another serial":  invite.TeamToken(key, "uid-1", "dave", 2),
		"another object":  invite.TeamToken(key, "uid-2", "dave", 1),
		"another member":  invite.TeamToken(key, "uid-1", "erin", 1),
		"another key":     invite.TeamToken([]byte("fedcba9876543210fedcba9876543210"), "uid-1", "dave", 1),
		"a shifted field": invite.TeamToken(key, "uid-1d", "ave", 1),
	} {
		if other == a {
			t.Errorf("%s derives the same token", name)
		}
	}
	if n := len(a); n < 40 || n > 64 {
		t.Errorf("a team token of %d characters is not one the portal reads", n)
	}
}

func TestSameMember(t *testing.T) {
	until := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	base := func() *invite.Invite {
		return &invite.Invite{User: "dave", Groups: []string{"dev"}, Namespace: "development", TTL: "24h0m0s", Until: &until,
			Grants: []privilege.Grant{{Namespace: "development", Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}}}}}}
	}
	if !sameMember(base(), base()) {
		t.Fatal("an invitation is not the same as itself")
	}
	later := until.Add(time.Hour)
	for name, change := range map[string]func(*invite.Invite){
		"groups":    func(i *invite.Invite) { i.Groups = []string{"dev", "ops"} },
		"namespace": func(i *invite.Invite) { i.Namespace = "staging" },
		"lifetime":  func(i *invite.Invite) { i.TTL = "1h0m0s" },
		"until":     func(i *invite.Invite) { i.Until = &later },
		"no until":  func(i *invite.Invite) { i.Until = nil },
		"access":    func(i *invite.Invite) { i.Grants[0].Rules[0].Verbs = []string{"get", "delete"} },
	} {
		changed := base()
		change(changed)
		if sameMember(base(), changed) {
			t.Errorf("a member whose %s changed keeps their invitation", name)
		}
	}
}
