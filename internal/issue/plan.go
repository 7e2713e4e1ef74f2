// Package issue is the issuance engine that every issuing command, apply
// and the portal share: a typed Plan, built and validated without I/O, and
// one Engine.Execute that checks, issues, binds, writes, records and
// verifies, undoing exactly what it made when a step fails. It knows no
// command line and prints nothing: progress goes to the plan's Events.
package issue

import (
	"fmt"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validation"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Plan is one credential to issue: who it is for, how it comes to be, the
// access bound to it, where it goes, and the checks it must pass.
type Plan struct {
	// Lineage, for a renewal, is the renewed credential's (see
	// records.Record.LineageID).
	Lineage string
	// Action names what is done in messages: "grant", "token", "approval".
	Action string
	// Refusing starts a refusal by the plan's own policy ("refusing to
	// approve"); "refusing to issue" when empty.
	Refusing string
	Subject  Subject
	// Source is how the credential comes to be; a Plan's Source is its
	// own and is not shared with another Execute.
	Source Source
	// Access is the RBAC to bind; its zero value binds nothing.
	Access AccessSpec
	// Namespace is the access's namespace (unless cluster-wide), the new
	// context's, and a service account's.
	Namespace string
	// CreateNamespace allows creating Namespace when it is missing.
	CreateNamespace bool
	// Destination is where the kubeconfig goes; its zero value writes none
	// and returns the entry in the Result.
	Destination Destination
	// RecordsNamespace keeps the record of the credential; "" keeps none.
	RecordsNamespace string
	Policy           Policy
	// Offline makes no API request: no checks, no access, no record, no
	// verification (an offline CA signs).
	Offline bool
	DryRun  DryRun
	// Team is the team file the credential is issued for, kept in its
	// record; Replaces the record of the credential it renews, which the
	// engine links to the new one.
	Team, Replaces string
	// AccessUntil, when set, is when the access ends by itself: kept in
	// the record, where kubeaccess controller finds it.
	AccessUntil time.Time
	// KeepsAccess is the access a renewed credential's record names,
	// bound already and kept as it is: the new record names it too.
	KeepsAccess []rbac.Ref
	// IssuedBy and Via, when set, are what the record says of who issued
	// the credential and how (the portal issues on its invite's creator's
	// behalf).
	IssuedBy, Via string
	// OnBehalfOf, when set, is the person the issuance is done for (an
	// invitation's creator, as the API server authenticated them): the
	// access is bound only if they could bind it themselves.
	OnBehalfOf *authenticationv1.UserInfo
	// Bound is access the caller binds for the subject itself.
	Bound Bound
	// Events receives progress, warnings and notes; nil drops them.
	Events func(Event)
}

// Bound is access that the caller binds for the subject itself, as apply
// binds a team's access once for all its members.
type Bound struct {
	// Grants are counted as held by the privilege check.
	Grants []privilege.Grant
	// Refs are the bindings and roles that give it, which are not
	// reported as access beyond the plan's.
	Refs []rbac.Ref
}

// Subject is who the credential authenticates as.
type Subject struct {
	User   string
	Groups []string
	// ServiceAccount is set for a token: User is then its username.
	ServiceAccount *ServiceAccount
	// CredentialGroup is the group minted for this certificate alone (one
	// of Groups), which its access is bound to so that revoking it
	// takes that access from this certificate only.
	CredentialGroup string
}

// ServiceAccount names a service account.
type ServiceAccount struct{ Namespace, Name string }

// AccessSpec is the access asked for, before the cluster resolves it.
type AccessSpec struct {
	Verbs       []string `json:"verbs,omitempty"`
	Resources   []string `json:"resources,omitempty"`
	Role        string   `json:"role,omitempty"`
	ClusterRole string   `json:"clusterRole,omitempty"`
	ClusterWide bool     `json:"clusterWide,omitempty"`
	// BindGroup binds the access to this group (one of the subject's)
	// instead of the user.
	BindGroup string `json:"bindGroup,omitempty"`
}

// Empty reports whether no access is asked for.
func (a AccessSpec) Empty() bool {
	return len(a.Verbs) == 0 && a.Role == "" && a.ClusterRole == ""
}

// Destination is where a kubeconfig is written: a new file, merged into
// an existing one, or the credential of one user entry replaced (renew).
type Destination struct {
	Path  string
	Merge string
	Force bool
	// Replace names a kubeconfig whose user entry User gets the new
	// credential in place of its own; the rest of the file stays.
	Replace, User string
	// Renewing writes, with Path, a kubeconfig whose user is the exec
	// plugin of a renewing credential, kept beside it
	// (renewing.PathFor); RenewBefore, when set, is when it renews;
	// OfflineFor, when set, the lifetime of its renewal identity.
	Renewing                bool
	RenewBefore, OfflineFor time.Duration
	// Renewable lets the certificate renew itself where it is written
	// without being used (approve, apply, the portal: its holder's key is
	// elsewhere, or the file goes to them): it is bound the renewer role
	// like a renewing one, and its kubeconfig says so
	// (kubeconfig.RenewingExtension) for kubeaccess complete, on the
	// holder's side, to make it renew itself, with RenewBefore and
	// OfflineFor.
	Renewable bool
}

// renews reports whether the credential is to be able to renew itself.
func (d Destination) renews() bool { return d.Renewing || d.Renewable }

// None reports whether no kubeconfig is to be written.
func (d Destination) None() bool { return d.Path == "" && d.Merge == "" && d.Replace == "" }

// Policy is what the identity and the credential must pass.
type Policy struct {
	// AllowPrivileged issues even to an identity that holds, or would
	// hold, escalation-grade permissions, or when that cannot be told.
	AllowPrivileged bool
	// Strict refuses an identity that bindings in place already give
	// more than the access.
	Strict bool
	// RefuseExistingAccess refuses an identity that bindings kubeaccess
	// did not make already give access (approving another's request would
	// hand it over).
	RefuseExistingAccess bool
	// MaxTTL bounds the credential's lifetime; 0 bounds nothing.
	MaxTTL time.Duration
	// Renewal renews a credential whose access is bound already: what
	// bindings in place give the identity is no news.
	Renewal bool
}

// Validate checks the plan without I/O: a valid subject and namespace, one
// kind of access, a source, and a lifetime within the policy.
func (p *Plan) Validate() error {
	if p.Source == nil {
		return fmt.Errorf("a plan needs a source")
	}
	if err := p.validateSubject(); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if errs := validation.ValidateNamespaceName(p.Namespace, false); len(errs) > 0 {
		return failure.UsageErrorf("namespace %q is not a valid name: %s", p.Namespace, errs[0])
	}
	if err := p.Access.validate(); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if b := p.Access.BindGroup; b != "" && !slices.Contains(p.Subject.Groups, b) {
		return failure.UsageErrorf("the group to bind %q must be one of the subject's groups %q", b, p.Subject.Groups)
	}
	if p.Offline && !p.Access.Empty() {
		return failure.UsageErrorf("signing offline makes no API request, so it cannot bind RBAC")
	}
	if p.Offline && p.DryRun != DryRunNone {
		return failure.UsageErrorf("signing offline creates no object, so a dry run has nothing to show")
	}
	if ttl := p.Source.Lifetime(); p.Policy.MaxTTL > 0 && ttl > p.Policy.MaxTTL {
		return failure.UsageErrorf("the lifetime %s is longer than the maximum %s: credentials that cannot be revoked should be short-lived", ttl, p.Policy.MaxTTL)
	}
	return nil
}

// validateSubject checks names by the subject policy: a certificate's user
// and groups, or a service account's names.
func (p *Plan) validateSubject() error {
	s := p.Subject
	if sa := s.ServiceAccount; sa != nil {
		for _, n := range []string{sa.Namespace, sa.Name} {
			if errs := validation.NameIsDNSSubdomain(n, false); len(errs) > 0 {
				return fmt.Errorf("service account name %q is not valid: %s", n, errs[0])
			}
		}
		if sa.Namespace != p.Namespace {
			return fmt.Errorf("service account %s/%s is not in namespace %q", sa.Namespace, sa.Name, p.Namespace)
		}
		return nil
	}
	policy := pki.SubjectPolicy{AllowPrivileged: p.Policy.AllowPrivileged, CredentialGroup: s.CredentialGroup}
	return policy.Check(s.User, s.Groups)
}

// validate checks that at most one kind of access is asked for.
func (a AccessSpec) validate() error {
	kinds := 0
	for _, set := range []bool{len(a.Verbs) > 0 || len(a.Resources) > 0, a.Role != "", a.ClusterRole != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return fmt.Errorf("choose one of --verb/--resource, --role and --clusterrole")
	case len(a.Verbs) > 0 && len(a.Resources) == 0:
		return fmt.Errorf("--verb needs --resource")
	case len(a.Resources) > 0 && len(a.Verbs) == 0:
		return fmt.Errorf("--resource needs --verb")
	case a.Role != "" && a.ClusterWide:
		return fmt.Errorf("--role binds a namespaced Role and cannot be --cluster-wide; use --clusterrole")
	case kinds == 0 && a.ClusterWide:
		return fmt.Errorf("--cluster-wide needs access to grant: --verb/--resource, --role or --clusterrole")
	case kinds == 0 && a.BindGroup != "":
		return fmt.Errorf("--bind-group needs access to grant: --verb/--resource, --role or --clusterrole")
	}
	return nil
}

// bindingSubject is who the access is bound to, and the name of its role
// and binding: the certificate's own group when it is revocable, the
// service account, the group to bind, or else the user.
func (p *Plan) bindingSubject() (subject rbacv1.Subject, base string) {
	s := p.Subject
	switch {
	case s.ServiceAccount != nil:
		return rbac.ServiceAccountSubject(s.ServiceAccount.Namespace, s.ServiceAccount.Name), rbac.ServiceAccountObjectName(s.ServiceAccount.Namespace, s.ServiceAccount.Name)
	case s.CredentialGroup != "":
		return rbac.Subject(rbacv1.GroupKind, s.CredentialGroup), s.CredentialGroup
	case p.Access.BindGroup != "":
		return rbac.Subject(rbacv1.GroupKind, p.Access.BindGroup), rbac.GroupObjectName(p.Access.BindGroup)
	}
	return rbac.Subject(rbacv1.UserKind, s.User), rbac.UserObjectName(s.User)
}
