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

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
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
}

// bootstrapLabel marks the RBAC objects the API server creates itself.
const bootstrapLabel = "kubernetes.io/bootstrapping"

// binding is a RoleBinding or ClusterRoleBinding, read alike.
type binding struct {
	name     string // "RoleBinding ns/name" or "ClusterRoleBinding name"
	ns       string
	subjects []rbacv1.Subject
	roleRef  rbacv1.RoleRef
	builtin  bool
}

// Run reads the cluster and returns the findings, most severe first.
func Run(ctx context.Context, client kubernetes.Interface, o Options) ([]Finding, error) {
	st, err := read(ctx, client, o)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	for _, check := range []func(*state) []Finding{
		checkClusterAdmin, checkWildcards, checkPrivilegedGroups, checkRecords, checkLegacyTokens, checkUnknownUsers, checkRequests,
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
	roles    map[string][]rbacv1.PolicyRule // "Role ns/name" or "ClusterRole name"
	records  []records.Record
	secrets  []corev1.Secret
	requests []certificatesv1.CertificateSigningRequest
}

func read(ctx context.Context, client kubernetes.Interface, o Options) (*state, error) {
	s := &state{o: o, roles: map[string][]rbacv1.PolicyRule{}}
	r := client.RbacV1()
	crbs, err := r.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing ClusterRoleBindings: %w", err)
	}
	for _, b := range crbs.Items {
		s.bindings = append(s.bindings, binding{"ClusterRoleBinding " + b.Name, "", b.Subjects, b.RoleRef, b.Labels[bootstrapLabel] != ""})
	}
	rbs, err := r.RoleBindings("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing RoleBindings: %w", err)
	}
	for _, b := range rbs.Items {
		s.bindings = append(s.bindings, binding{"RoleBinding " + b.Namespace + "/" + b.Name, b.Namespace, b.Subjects, b.RoleRef, b.Labels[bootstrapLabel] != ""})
	}
	crs, err := r.ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing ClusterRoles: %w", err)
	}
	for _, cr := range crs.Items {
		s.roles["ClusterRole "+cr.Name] = cr.Rules
	}
	roles, err := r.Roles("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Roles: %w", err)
	}
	for _, role := range roles.Items {
		s.roles["Role "+role.Namespace+"/"+role.Name] = role.Rules
	}
	if s.records, err = (records.Store{Client: client, Namespace: o.RecordsNamespace}).List(ctx, ""); err != nil {
		return nil, err
	}
	secrets, err := client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeServiceAccountToken)})
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

// roleOf names the role a binding refers to, as keyed in state.roles.
func (b binding) roleOf() string {
	if b.roleRef.Kind == "ClusterRole" {
		return "ClusterRole " + b.roleRef.Name
	}
	return "Role " + b.ns + "/" + b.roleRef.Name
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
		if b.builtin || b.roleRef.Kind != "ClusterRole" || b.roleRef.Name != "cluster-admin" {
			continue
		}
		for _, sub := range b.subjects {
			out = append(out, Finding{High, "cluster-admin", b.name, describe(sub) + " is bound to cluster-admin"})
		}
	}
	return out
}

func checkWildcards(s *state) []Finding {
	var out []Finding
	for _, b := range s.bindings {
		if b.builtin || b.roleRef.Name == "cluster-admin" {
			continue
		}
		for _, rule := range s.roles[b.roleOf()] {
			if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") {
				out = append(out, Finding{Medium, "wildcard-rules", b.name, fmt.Sprintf("binds %s, whose rules include verbs %v on resources %v", b.roleOf(), rule.Verbs, rule.Resources)})
				break
			}
		}
	}
	return out
}

func checkPrivilegedGroups(s *state) []Finding {
	var out []Finding
	for _, b := range s.bindings {
		if b.builtin {
			continue
		}
		for _, sub := range b.subjects {
			if sub.Kind == rbacv1.GroupKind && slices.Contains(pki.BuiltinPrivilegedGroups, sub.Name) {
				out = append(out, Finding{High, "privileged-group", b.name, "binds the privileged group " + sub.Name})
			}
		}
	}
	return out
}

func checkRecords(s *state) []Finding {
	var out []Finding
	for _, r := range s.records {
		object := "credential " + r.ID + " of " + r.User
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
		if !slices.Contains(r.Access, b.name) {
			continue
		}
		if slices.ContainsFunc(b.subjects, func(sub rbacv1.Subject) bool {
			return sub.Name == r.User || sub.Kind == rbacv1.GroupKind && slices.Contains(r.Groups, sub.Name)
		}) {
			live = append(live, b.name)
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
		for _, sub := range b.subjects {
			if sub.Kind == rbacv1.UserKind && !known[sub.Name] && !strings.HasPrefix(sub.Name, "system:") {
				out = append(out, Finding{Low, "unknown-origin", b.name, "user " + sub.Name + " has no kubeaccess record: nobody knows what credential they hold"})
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
		if err := (pki.SubjectPolicy{}).Check(parsed.Subject.CommonName, parsed.Subject.Organization); err != nil {
			if state == "" {
				state = "pending"
			}
			out = append(out, Finding{High, "privileged-request", "CertificateSigningRequest " + req.Name, state + ": " + err.Error()})
		}
	}
	return out
}
