package team

import (
	"os"
	"strings"
	"testing"
	"time"
)

const maxTTL = 90 * 24 * time.Hour

func readExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/team.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestTheIssueExampleIsValid(t *testing.T) {
	f, err := Parse("team.yaml", readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(maxTTL); err != nil {
		t.Fatal(err)
	}
	if f.Metadata.Name != "platform" || f.Spec.TTL.Duration != 720*time.Hour || f.Spec.RenewBefore.Duration != 168*time.Hour ||
		len(f.Spec.Users) != 2 || f.Spec.Users[1].TTL.Duration != 24*time.Hour || f.Spec.ServiceAccounts[0].Duration.Duration != 2*time.Hour ||
		!f.Spec.Groups["dev"][1].ClusterWide || f.Spec.Roles["reader"].ClusterRole != "view" {
		t.Errorf("the example was not read as written: %+v", f.TeamAccess)
	}
}

// Each bad file is refused with every problem, each at its line.
func TestBadFilesListEveryProblemWithItsLine(t *testing.T) {
	example := string(readExample(t))
	tests := map[string]struct {
		edit func(string) string
		want []string
	}{
		"unknown fields at any depth": {
			func(s string) string {
				s = strings.Replace(s, "  ttl: 720h ", "  tll: 720h ", 1)
				return strings.Replace(s, "        resources: [pods", "        resourcez: [pods", 1)
			},
			[]string{`team.yaml:6: unknown field "tll" in spec`, `team.yaml:12: unknown field "resourcez" in rule`, "team.yaml:11: role \"deployer\": a rule needs verbs and resources"},
		},
		"bad duration and bad verb": {
			func(s string) string {
				s = strings.Replace(s, "ttl: 24h", "ttl: a day", 1)
				return strings.Replace(s, "[create, get,", "[create, fly,", 1)
			},
			[]string{`team.yaml:11: role "deployer": unknown verb "fly"`, `team.yaml:26: "a day" is not a duration such as 720h or 30d`},
		},
		"unknown role and group, with suggestions": {
			func(s string) string {
				s = strings.Replace(s, "- role: reader", "- role: raeder", 1)
				return strings.Replace(s, "  - name: erin\n    groups: [dev]", "  - name: erin\n    groups: [dve]", 1)
			},
			[]string{`team.yaml:19: unknown role "raeder" (did you mean "reader"?)`, `team.yaml:25: user "erin": unknown group "dve" (did you mean "dev"?)`},
		},
		"names the subject policy refuses": {
			func(s string) string {
				s = strings.Replace(s, "  - name: dave", "  - name: system:kube-scheduler", 1)
				return strings.Replace(s, "    dev:\n", "    system:masters:\n", 1)
			},
			[]string{`team.yaml:16: group "system:masters": group "system:masters" has cluster-admin rights`,
				`team.yaml:22: user "system:kube-scheduler": user "system:kube-scheduler" is in the reserved system: namespace`,
				`user "system:kube-scheduler": unknown group "dev"`},
		},
		"content a reviewer does not read: tags, anchors, aliases, merge keys": {
			func(s string) string {
				s = strings.Replace(s, "    groups: [dev]\n    ttl: 24h", "    groups: *g\n    ttl: !!str 24h", 1)
				return strings.Replace(s, "  - name: dave\n    groups: [dev]", "  - name: dave\n    groups: &g [dev]", 1)
			},
			[]string{`team.yaml:23: anchor &g: a team file may not use anchors and aliases`, `team.yaml:26: tag !!str: a team file may not use explicit tags`,
				`team.yaml:25: alias *g: a team file may not use anchors and aliases`},
		},
		"lifetimes": {
			func(s string) string {
				s = strings.Replace(s, "ttl: 24h", "ttl: 5m", 1)
				return strings.Replace(s, "duration: 2h", "duration: 100d", 1)
			},
			[]string{`team.yaml:26: user "erin": ttl 5m0s is too short: at least 10m0s`,
				`team.yaml:29: service account "ci/deployer": duration 2400h0m0s is longer than the maximum 2160h0m0s (--max-ttl)`},
		},
		"access shapes": {
			func(s string) string {
				s = strings.Replace(s, "      namespaces: [development, staging]", "      namespaces: [development, development]\n      clusterWide: true", 1)
				return strings.Replace(s, "ci/deployer", "deployer", 1)
			},
			[]string{`team.yaml:17: role "deployer": give namespaces or clusterWide, not both`, `team.yaml:18: namespace "development" is listed twice`,
				`service account "deployer" must be NAMESPACE/NAME`},
		},
		"duplicates and a role of two kinds": {
			func(s string) string {
				s = strings.Replace(s, "  - name: erin", "  - name: dave", 1)
				return strings.Replace(s, "      clusterRole: view", "      clusterRole: view\n      role: viewer", 1)
			},
			[]string{`team.yaml:13: role "reader" must have exactly one of rules, clusterRole and role`, `user "dave" is listed twice`},
		},
		"invitations that go nowhere, or somewhere bad": {
			func(s string) string {
				return s + "  invitations:\n    expires: 90d\n    secret:\n      namespace: Leads\n      name: links\n    webhook:\n      url: ftp://user:pw@hooks.example/x\n"
			},
			[]string{`spec.invitations.expires 2160h0m0s: a link works for at most 30d`, `spec.invitations.secret.namespace "Leads"`,
				`spec.invitations.webhook.url "ftp://user:pw@hooks.example/x" is not an http(s) URL`},
		},
		"invitations without a destination": {
			func(s string) string { return s + "  invitations:\n    expires: 24h\n" },
			[]string{`spec.invitations: say where the links go`},
		},
		"wrong kind": {
			func(s string) string { return strings.Replace(s, "kind: TeamAccess", "kind: Team", 1) },
			[]string{`team.yaml:2: apiVersion "kubeaccess.io/v1alpha1", kind "Team": want apiVersion kubeaccess.io/v1alpha1, kind TeamAccess`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			text := tc.edit(example)
			if text == example {
				t.Fatal("the edit changed nothing")
			}
			f, err := Parse("team.yaml", []byte(text))
			if f == nil {
				t.Fatalf("not parsed: %v", err)
			}
			err = f.Check(err, maxTTL)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the errors do not say %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestNotYAMLIsOneClearError(t *testing.T) {
	for name, data := range map[string]string{"empty": "", "syntax": "spec: [unclosed", "two documents": string(readExampleOnce()) + "---\nkind: TeamAccess\n"} {
		t.Run(name, func(t *testing.T) {
			f, err := Parse("team.yaml", []byte(data))
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if !strings.HasPrefix(err.Error(), "team.yaml has 1 error(s):") {
				t.Errorf("error %q", err)
			}
		})
	}
}

func readExampleOnce() []byte {
	data, _ := os.ReadFile("testdata/team.yaml")
	return data
}
