// Package audit looks for risky access in a cluster: who holds cluster-admin
// or wildcard rules, bindings to privileged groups, credentials kubeaccess
// issued that are expired, revoked, expiring or too long-lived, legacy
// service-account token Secrets, users of unknown origin, and privileged
// certificate requests. It only reads.
package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// Severities, most severe first.
const (
	High   = "high"
	Medium = "medium"
	Low    = "low"
)

// Rank orders severities: higher is more severe.
func Rank(severity string) int {
	return map[string]int{High: 3, Medium: 2, Low: 1}[severity]
}

// Finding is one risk.
type Finding struct {
	Severity string `json:"severity"`
	Check    string `json:"check"`
	Object   string `json:"object"`
	Detail   string `json:"detail"`
}

// Options tune the checks.
type Options struct {
	RecordsNamespace string
	Expiring         time.Duration // credentials expiring within this are reported
	MaxTTL           time.Duration // lifetimes over this are reported
	Now              time.Time
	// Unused, when set, reports what audit logs show no use of.
	Unused *Unused
}

// binding is a RoleBinding or ClusterRoleBinding, and whether it is one
// the API server made itself.
type binding struct {
	rbac.Binding
	builtin bool
}

// Run reads the cluster and returns the findings, most severe first.
func Run(ctx context.Context, client kubernetes.Interface, o Options) ([]Finding, error) {
	st, err := read(ctx, client, o)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	for _, check := range []func(*state) []Finding{
		checkClusterAdmin, checkEscalation, checkWildcards, checkPrivilegedGroups, checkRecords, checkRecordWriters, checkLegacyTokens, checkUnknownUsers, checkRequests, checkUnused,
	} {
		findings = append(findings, check(st)...)
	}
	slices.SortStableFunc(findings, func(a, b Finding) int { return Rank(b.Severity) - Rank(a.Severity) })
	return findings, nil
}

// state is what the checks read.
type state struct {
	o        Options
	bindings []binding
	roles    map[rbac.Ref][]rbacv1.PolicyRule
	index    *rbac.Index
	records  []records.Record
	secrets  []corev1.Secret
	requests []certificatesv1.CertificateSigningRequest
}

func read(ctx context.Context, client kubernetes.Interface, o Options) (*state, error) {
	index, err := rbac.ReadIndex(ctx, client)
	if err != nil {
		return nil, err
	}
	s := &state{o: o, roles: index.Roles, index: index}
	for _, b := range index.Bindings {
		s.bindings = append(s.bindings, binding{b, b.Bootstrap()})
	}
	if s.records, err = (records.Store{Client: client, Namespace: o.RecordsNamespace}).List(ctx, ""); err != nil {
		return nil, err
	}
	if o.Unused != nil {
		if err := o.Unused.read(ctx, s.records); err != nil {
			return nil, err
		}
	}
	// Their data are tokens: the list is never logged (cmdutil.Quiet).
	secrets, err := client.CoreV1().Secrets("").List(safe.Quiet(ctx), metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeServiceAccountToken)})
	if err != nil {
		return nil, fmt.Errorf("listing service-account token Secrets: %w", err)
	}
	s.secrets = secrets.Items
	reqs, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing CertificateSigningRequests: %w", err)
	}
	s.requests = reqs.Items
	return s, nil
}

func describe(s rbacv1.Subject) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return "ServiceAccount " + s.Namespace + "/" + s.Name
	}
	return s.Kind + " " + s.Name
}

func checkClusterAdmin(s *state) []Finding {
	var out []Finding
	for _, b := range s.bindings {
		if b.builtin || b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != "cluster-admin" {
			continue
		}
		for _, sub := range b.Subjects {
			out = append(out, Finding{High, "cluster-admin", b.Ref.String(), describe(sub) + " is bound to cluster-admin"})
		}
	}
	return out
}

// checkEscalation reports every subject of a binding the API server did
// not make that holds an escalation-grade permission of the catalogue
// (the one grant and approve refuse), whatever its roles are called, with
// the binding and rule that give it. Subjects bound to cluster-admin are
// reported by checkClusterAdmin already.
func checkEscalation(s *state) []Finding {
	var out []Finding
	seen := map[rbacv1.Subject]bool{}
	for _, b := range s.bindings {
		if b.builtin {
			continue
		}
		for _, sub := range b.Subjects {
			if seen[sub] {
				continue
			}
			seen[sub] = true
			if s.boundToClusterAdmin(sub) {
				continue
			}
			findings := privilege.LocalFindings(s.index, asUser(sub, b.Ref.Namespace))
			if len(findings) == 0 {
				continue
			}
			ids := make([]string, len(findings))
			for i, f := range findings {
				ids[i] = f.Entry.ID
			}
			why := fmt.Sprintf("%s holds escalation-grade permissions (%s); for one, %s: %s, through %s", describe(sub), strings.Join(ids, ", "),
				findings[0].Entry.ID, privilege.Describe(findings[0].Held[0]), findings[0].GrantedBy[0])
			out = append(out, Finding{High, "escalation", describe(sub), why})
		}
	}
	return out
}

// asUser is the identity a binding's subject stands for, alone: a user
// without the groups it may also be in, a group's member with no other
// group, a service account with its own groups.
func asUser(sub rbacv1.Subject, bindingNamespace string) rbac.User {
	switch sub.Kind {
	case rbacv1.GroupKind:
		return rbac.User{Groups: []string{sub.Name}}
	case rbacv1.ServiceAccountKind:
		ns := sub.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return rbac.ServiceAccountUser(ns, sub.Name)
	}
	return rbac.User{Name: sub.Name}
}

// boundToClusterAdmin reports whether a binding outside the bootstrap ones
// binds sub to cluster-admin.
func (s *state) boundToClusterAdmin(sub rbacv1.Subject) bool {
	return slices.ContainsFunc(s.bindings, func(b binding) bool {
		return !b.builtin && b.RoleRef.Kind == "ClusterRole" && b.RoleRef.Name == "cluster-admin" && slices.Contains(b.Subjects, sub)
	})
}

func checkWildcards(s *state) []Finding {
	var out []Finding
	for _, b := range s.bindings {
		if b.builtin || b.RoleRef.Name == "cluster-admin" {
			continue
		}
		for _, rule := range s.roles[b.RoleOf()] {
			if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") {
				out = append(out, Finding{Medium, "wildcard-rules", b.Ref.String(), fmt.Sprintf("binds %s, whose rules include verbs %v on resources %v in API groups %q%s",
					b.RoleOf(), rule.Verbs, rule.Resources, rule.APIGroups, namedOnly(rule))})
				break
			}
		}
	}
	return out
}

// namedOnly says when a rule is limited to some names.
func namedOnly(rule rbacv1.PolicyRule) string {
	if len(rule.ResourceNames) == 0 {
		return ""
	}
	return fmt.Sprintf(", only names %q", rule.ResourceNames)
}

func checkPrivilegedGroups(s *state) []Finding {
	var out []Finding
	for _, b := range s.bindings {
		if b.builtin {
			continue
		}
		for _, sub := range b.Subjects {
			if sub.Kind == rbacv1.GroupKind && slices.Contains(pki.BuiltinPrivilegedGroups, sub.Name) {
				out = append(out, Finding{High, "privileged-group", b.Ref.String(), "binds the privileged group " + sub.Name})
			}
		}
	}
	return out
}

func checkRecords(s *state) []Finding {
	var out []Finding
	for _, r := range s.records {
		object := "credential " + r.ID + " of " + r.User
		if err := r.Check(); err != nil {
			out = append(out, Finding{High, "tampered-record", object, err.Error() + "; revoke and renew will not act on it"})
			continue
		}
		lifetime := r.NotAfter.Sub(r.NotBefore)
		switch {
		case r.Revoked != nil || !s.o.Now.Before(r.NotAfter):
			state := "expired"
			if r.Revoked != nil {
				state = "revoked"
			}
			if live := s.liveBindings(r); len(live) > 0 {
				out = append(out, Finding{Medium, "stale-access", object, fmt.Sprintf("%s, but still a subject of %s", state, strings.Join(live, ", "))})
			}
			continue
		case r.NotAfter.Sub(s.o.Now) < s.o.Expiring:
			out = append(out, Finding{Low, "expiring", object, "expires " + r.NotAfter.Format(time.RFC3339)})
		}
		if s.o.MaxTTL > 0 && lifetime > s.o.MaxTTL {
			out = append(out, Finding{Medium, "long-lived", object, fmt.Sprintf("valid for %s, over the %s maximum", lifetime.Round(time.Hour), s.o.MaxTTL)})
		}
	}
	return out
}

// liveBindings lists the bindings of a record that still name its holder.
func (s *state) liveBindings(r records.Record) []string {
	var live []string
	for _, b := range s.bindings {
		if !slices.Contains(r.Access, b.Ref) {
			continue
		}
		if slices.ContainsFunc(b.Subjects, func(sub rbacv1.Subject) bool {
			return sub.Name == r.User || sub.Kind == rbacv1.GroupKind && slices.Contains(r.Groups, sub.Name)
		}) {
			live = append(live, b.Ref.String())
		}
	}
	return live
}

func checkLegacyTokens(s *state) []Finding {
	var out []Finding
	for _, sec := range s.secrets {
		out = append(out, Finding{Medium, "legacy-token", "Secret " + sec.Namespace + "/" + sec.Name,
			"a long-lived service-account token for " + sec.Annotations[corev1.ServiceAccountNameKey] + "; use kubeaccess token (TokenRequest) instead"})
	}
	return out
}

func checkUnknownUsers(s *state) []Finding {
	known := map[string]bool{}
	for _, r := range s.records {
		known[r.User] = true
	}
	var out []Finding
	for _, b := range s.bindings {
		if b.builtin {
			continue
		}
		for _, sub := range b.Subjects {
			if sub.Kind == rbacv1.UserKind && !known[sub.Name] && !strings.HasPrefix(sub.Name, "system:") {
				out = append(out, Finding{Low, "unknown-origin", b.Ref.String(), "user " + sub.Name + " has no kubeaccess record: nobody knows what credential they hold"})
			}
		}
	}
	return out
}

func checkRequests(s *state) []Finding {
	var out []Finding
	for _, req := range s.requests {
		state := csr.State(&req)
		if state != "" && state != "approved" || req.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
			continue
		}
		parsed, err := pki.ParseRequest(req.Spec.Request)
		if err != nil {
			continue
		}
		policy := pki.SubjectPolicy{CredentialGroup: s.ownCredentialGroup(req.Name, parsed.Subject.Organization)}
		if err := policy.Check(parsed.Subject.CommonName, parsed.Subject.Organization); err != nil {
			if state == "" {
				state = "pending"
			}
			out = append(out, Finding{High, "privileged-request", "CertificateSigningRequest " + req.Name, state + ": " + err.Error()})
		}
	}
	return out
}

// ownCredentialGroup is the per-credential group among a request's groups
// when it is the request's own: one no record claims yet (a fresh request
// made with kubeaccess request --revocable), or the one the record of the
// certificate issued for this very request holds. A group another
// credential holds is not returned, so the request is reported.
func (s *state) ownCredentialGroup(csrName string, groups []string) string {
	for _, g := range groups {
		if !strings.HasPrefix(g, pki.CredentialGroupPrefix) {
			continue
		}
		for _, r := range s.records {
			if r.CredentialGroup == g && r.CSR != csrName {
				return ""
			}
		}
		return g
	}
	return ""
}

// checkRecordWriters reports who, besides cluster admins, may write the
// records: they could forge what renew and revoke read.
func checkRecordWriters(s *state) []Finding {
	everything := []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
	admins := map[rbacv1.Subject]bool{}
	for _, b := range s.bindings {
		if ok, _ := rbacvalidation.Covers(s.roles[b.RoleOf()], everything); ok && b.Ref.Namespace == "" {
			for _, sub := range b.Subjects {
				admins[sub] = true
			}
		}
	}
	var out []Finding
	for _, b := range s.bindings {
		if b.builtin || b.Ref.Namespace != "" && b.Ref.Namespace != s.o.RecordsNamespace {
			continue
		}
		verbs := writeVerbs(s.roles[b.RoleOf()])
		if len(verbs) == 0 {
			continue
		}
		for _, sub := range b.Subjects {
			if admins[sub] {
				continue
			}
			out = append(out, Finding{Medium, "records-writable", b.Ref.String(), fmt.Sprintf("%s may %s configmaps in namespace %s through %s: it could forge the records renew and revoke read",
				describe(sub), strings.Join(verbs, "/"), s.o.RecordsNamespace, b.RoleOf())})
		}
	}
	return out
}

// writeVerbs lists the verbs of rules that write configmaps.
func writeVerbs(rules []rbacv1.PolicyRule) []string {
	var verbs []string
	for _, v := range []string{"create", "update", "patch", "delete"} {
		want := []rbacv1.PolicyRule{{Verbs: []string{v}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}
		if ok, _ := rbacvalidation.Covers(rules, want); ok {
			verbs = append(verbs, v)
		}
	}
	return verbs
}
