// Package team reads a TeamAccess file, the whole access of a team as
// code, and works out what brings the cluster to it: credentials to issue,
// renew and revoke, and the RBAC objects to create, update and prune.
package team

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/lifetime"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
)

// The apiVersion and kind of a team file.
const (
	APIVersion = "kubeaccess.io/v1alpha1"
	Kind       = "TeamAccess"
)

// TeamAccess is a team file. Its shape is a contract: it may grow, not
// change.
type TeamAccess struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   Metadata `yaml:"metadata"`
	Spec       Spec     `yaml:"spec"`
}

// Metadata names the team; the name owns what the file creates. Labels
// and annotations are the TeamAccess object's (its author, say), allowed
// so that one file serves apply -f and kubectl apply; apply -f ignores
// them.
type Metadata struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Spec is the team's access.
type Spec struct {
	// TTL is the lifetime of issued certificates unless a user says
	// otherwise; RenewBefore renews those expiring sooner.
	TTL             Duration            `yaml:"ttl"`
	RenewBefore     Duration            `yaml:"renewBefore"`
	Roles           map[string]Role     `yaml:"roles"`
	Groups          map[string][]Access `yaml:"groups"`
	Users           []User              `yaml:"users"`
	ServiceAccounts []ServiceAccount    `yaml:"serviceAccounts"`
	// Renewing, when set, lets each user's certificate renew itself (see
	// grant --renewing): apply -f binds each the kubeaccess-renewer role
	// and says so in the kubeconfig, which its holder makes renew itself
	// with kubeaccess complete.
	Renewing *Renewing `yaml:"renewing"`
	// Invitations, when set, has kubeaccess controller invite each user
	// still without a credential; apply -f, which issues them itself,
	// ignores it.
	Invitations *Invitations `yaml:"invitations"`
}

// Renewing is how the users' certificates renew themselves: when (a third
// of their lifetime before expiry unless RenewBefore says), and the
// lifetime of their renewal identity (7 days unless OfflineFor says).
type Renewing struct {
	RenewBefore Duration `yaml:"renewBefore"`
	OfflineFor  Duration `yaml:"offlineFor"`
}

// Kubeconfig is what a kubeconfig of a certificate of lifetime says of
// its renewing (kubeconfig.RenewingExtension).
func (r *Renewing) Kubeconfig(lifetime string) *kubeconfig.Renewing {
	k := &kubeconfig.Renewing{Lifetime: lifetime, OfflineFor: r.Offline().String()}
	if r.RenewBefore.Duration > 0 {
		k.RenewBefore = r.RenewBefore.String()
	}
	return k
}

// Offline is the lifetime of the users' renewal identities: OfflineFor,
// or renewing.DefaultOfflineFor when not given.
func (r *Renewing) Offline() time.Duration {
	if r.OfflineFor.Duration > 0 {
		return r.OfflineFor.Duration
	}
	return renewing.DefaultOfflineFor
}

// Invitations says where kubeaccess controller sends the one-time links of
// the users it invites (kubeaccess serve redeems them; the browser makes
// the key): a Secret, one key per user, or a webhook, or both.
type Invitations struct {
	Secret  *SecretRef `yaml:"secret"`
	Webhook *Webhook   `yaml:"webhook"`
	// Expires is how long a link works; DefaultInvitationExpiry when not
	// given.
	Expires Duration `yaml:"expires"`
}

// SecretRef names a Secret.
type SecretRef struct {
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
}

// Webhook is where a JSON notice of each link is posted.
type Webhook struct {
	URL string `yaml:"url"`
}

// Role is one of: rules (resources resolved through discovery, as grant
// --resource), an existing ClusterRole, or an existing Role.
type Role struct {
	Rules       []Rule `yaml:"rules"`
	ClusterRole string `yaml:"clusterRole"`
	Role        string `yaml:"role"`
}

// Rule is verbs on resources.
type Rule struct {
	Verbs     []string `yaml:"verbs"`
	Resources []string `yaml:"resources"`
}

// Access binds a role in namespaces, or across the cluster.
type Access struct {
	Role        string   `yaml:"role"`
	Namespaces  []string `yaml:"namespaces"`
	ClusterWide bool     `yaml:"clusterWide"`
}

// User is a person, with the groups whose access they get; Until, when
// set, is when their access ends by itself.
type User struct {
	Name   string   `yaml:"name"`
	Groups []string `yaml:"groups"`
	TTL    Duration `yaml:"ttl"`
	Until  Time     `yaml:"until"`
}

// ServiceAccount is NAMESPACE/NAME, given a token kubeconfig; Until, when
// set, is when its access ends by itself.
type ServiceAccount struct {
	Name     string   `yaml:"name"`
	Duration Duration `yaml:"duration"`
	Access   []Access `yaml:"access"`
	Until    Time     `yaml:"until"`
}

// Time is a moment written as RFC 3339 (2026-12-01T18:00:00Z); zero when
// not given.
type Time struct {
	time.Time
}

// UnmarshalYAML reads a moment; a bad one is a type error, so that the
// file's other errors are still reported.
func (t *Time) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.Parse(time.RFC3339, n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a time such as 2026-12-01T18:00:00Z (RFC 3339)", n.Line, n.Value)}}
	}
	t.Time = v
	return nil
}

// Duration is a lifetime written as 720h or 30d; zero when not given.
type Duration struct {
	time.Duration
}

// UnmarshalYAML reads a duration; a bad one is a type error, so that the
// file's other errors are still reported.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := lifetime.Parse(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration such as 720h or 30d", n.Line, n.Value)}}
	}
	d.Duration = v
	return nil
}

// File is a parsed team file, which knows the line of each of its parts.
type File struct {
	// Path is where it was read from, for messages.
	Path string
	TeamAccess
	root *yaml.Node
}

// Problem is one error in a team file, at a line.
type Problem struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// Problems are every error found in a team file.
type Problems struct {
	Path string
	List []Problem
}

func (p *Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s has %d error(s):", p.Path, len(p.List))
	for _, e := range p.List {
		if e.Line > 0 {
			fmt.Fprintf(&b, "\n  %s:%d: %s", p.Path, e.Line, e.Message)
		} else {
			fmt.Fprintf(&b, "\n  %s: %s", p.Path, e.Message)
		}
	}
	return b.String()
}

// add records a problem at line.
func (p *Problems) add(line int, format string, args ...any) {
	p.List = append(p.List, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

// err is nil without problems.
func (p *Problems) err() error {
	if len(p.List) == 0 {
		return nil
	}
	return p
}

var (
	typeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField  = regexp.MustCompile(`^field (\S+) not found in type team\.(\w+)$`)
)

// Parse reads a team file. Unknown fields and values of the wrong type are
// all reported, each with its line.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path, root: &yaml.Node{}}
	problems := &Problems{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(f.root); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the file is empty")
		}
		problems.add(0, "%v", err)
		return nil, problems
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		problems.add(extra.Line, "a team file holds one document; this is another")
	}
	plainYAML(f.root, problems)
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var typeErr *yaml.TypeError
	if err := strict.Decode(&f.TeamAccess); errors.As(err, &typeErr) {
		for _, msg := range typeErr.Errors {
			problems.List = append(problems.List, typeProblem(msg))
		}
	} else if err != nil {
		problems.add(0, "%v", err)
	}
	return f, problems.err()
}

// plainYAML refuses what lets a file say more than a reviewer reads:
// anchors, aliases and merge keys (a value defined in one place and
// applied in another) and explicit tags (!!binary holds base64 that the
// parser decodes); a team file is reviewed as it reads.
func plainYAML(n *yaml.Node, p *Problems) {
	switch {
	case n.Anchor != "":
		p.add(n.Line, "anchor &%s: a team file may not use anchors and aliases; write each value where it applies", n.Anchor)
	case n.Kind == yaml.AliasNode:
		p.add(n.Line, "alias *%s: a team file may not use anchors and aliases; write each value where it applies", n.Value)
		return
	case n.Kind == yaml.ScalarNode && n.Tag == "!!merge":
		p.add(n.Line, "merge key <<: a team file may not merge maps; write each value where it applies")
	case n.Style&yaml.TaggedStyle != 0:
		p.add(n.Line, "tag %s: a team file may not use explicit tags; write the value as plain text", n.Tag)
	}
	for _, c := range n.Content {
		plainYAML(c, p)
	}
}

// typeProblem turns one of yaml's type errors into a Problem in our words.
func typeProblem(msg string) Problem {
	m := typeErrorLine.FindStringSubmatch(msg)
	if m == nil {
		return Problem{Message: msg}
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	if u := unknownField.FindStringSubmatch(text); u != nil {
		text = fmt.Sprintf("unknown field %q in %s", u[1], strings.ToLower(u[2][:1])+u[2][1:])
	}
	text = strings.ReplaceAll(text, "!!", "")
	return Problem{Line: line, Message: text}
}

// Line is the line of the node at path (map keys and sequence indices)
// below the document, or of the nearest part of it that exists; 0 when
// nothing does.
func (f *File) Line(path ...any) int {
	n := f.root
	if n == nil || len(n.Content) == 0 {
		return 0
	}
	n = n.Content[0]
	line := n.Line
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						line, next = n.Content[i].Line, n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}
