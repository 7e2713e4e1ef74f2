// Package records keeps, in the cluster, a record of every credential
// kubeaccess issues, so that every admin sees the same inventory: one
// ConfigMap per credential in a dedicated namespace. A record holds no
// secret: the subject, how and by whom it was issued, its validity, the
// RBAC objects it created or joined, and the public certificate.
package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// DefaultNamespace holds the records unless --records-namespace says otherwise.
const DefaultNamespace = "kubeaccess-system"

// The labels on a record, besides labels.ManagedBy and labels.User.
const (
	KindLabel = "kubeaccess.io/record"
	dataKey   = "record.json"
	certKey   = "certificate.pem"
)

// Record is one issued credential.
type Record struct {
	ID        string   `json:"id"`
	User      string   `json:"user"`
	Groups    []string `json:"groups,omitempty"`
	Kind      string   `json:"kind"`      // certificate or token
	IssuedVia string   `json:"issuedVia"` // csr-api, offline-ca or token-request
	// Action is what issued it (issue.Plan.Action): grant, approval,
	// signing, token, credential (a team's), invitation or renewal.
	Action    string    `json:"action,omitempty"`
	IssuedBy  string    `json:"issuedBy,omitempty"`
	IssuedAt  time.Time `json:"issuedAt"`
	Serial    string    `json:"serial,omitempty"`
	SHA256    string    `json:"sha256,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Access names the RBAC objects the credential's issuance created or
	// joined. Records written before held "Kind ns/name" strings, which
	// are still read.
	Access    []rbac.Ref `json:"access,omitempty"`
	Namespace string     `json:"namespace,omitempty"`
	CSR       string     `json:"certificateSigningRequest,omitempty"`
	// For tokens: the ServiceAccount's namespace/name and the bound Secret.
	ServiceAccount string `json:"serviceAccount,omitempty"`
	BoundSecret    string `json:"boundSecret,omitempty"`
	// JTI is a token's ID, which the API server shows as its credential
	// ID (JTI=...).
	JTI string `json:"jti,omitempty"`
	// Certificate is the public certificate, PEM.
	Certificate string `json:"-"`
	// CredentialGroup is the per-credential group of a revocable
	// certificate, to which its access is bound.
	CredentialGroup string `json:"credentialGroup,omitempty"`
	// TTL is the lifetime asked for, which renew asks for again.
	TTL string `json:"ttl,omitempty"`
	// Until is when the access ends by itself (grant --for): the
	// controller revokes it then, and a renewal never outlives it.
	Until      *time.Time `json:"until,omitempty"`
	Revoked    *time.Time `json:"revoked,omitempty"`
	RevokedBy  string     `json:"revokedBy,omitempty"`
	Replaces   string     `json:"replaces,omitempty"`
	ReplacedBy string     `json:"replacedBy,omitempty"`
	// Team is the team file (kubeaccess apply) the credential was issued
	// for, which renews and revokes it.
	Team string `json:"team,omitempty"`
	// RenewalIdentityOf, on the record of a renewal identity (see
	// pki.RenewalIdentityPrefix), names the record of the credential it
	// was issued to, as that credential then was: it renews that
	// credential's current certificate, whichever renewal it is by now.
	RenewalIdentityOf string `json:"renewalIdentityOf,omitempty"`
	// Lineage is the ID of the first record of the credential a renewal
	// renews (see LineageID): every renewal of one credential has the same.
	Lineage string `json:"lineage,omitempty"`

	// unreadable says why the record's object could not be read: such a
	// record is listed, named by its object, and fails Check, so that one
	// object anyone may write in the records namespace neither stops every
	// command that lists records nor is acted on.
	unreadable string
}

// LineageID names the credential r is a certificate of, across its
// renewals: the ID of its first record.
func (r Record) LineageID() string {
	if r.Lineage != "" {
		return r.Lineage
	}
	return r.ID
}

// CertificateID identifies a certificate by its fingerprint.
func CertificateID(sha256Hex string) string { return "c-" + sha256Hex[:16] }

// TokenID identifies a token by a hash of it, from which it cannot be had back.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "t-" + hex.EncodeToString(sum[:8])
}

// Describe lists the RBAC objects among changes, as a record's Access.
func Describe(changes []rbac.Change) []rbac.Ref {
	var access []rbac.Ref
	for _, c := range changes {
		if c.Object.GetObjectKind().GroupVersionKind().Group != rbacv1.GroupName {
			continue
		}
		if ref, err := rbac.RefOf(c.Object); err == nil {
			access = append(access, ref)
		}
	}
	return access
}

// Store reads and writes records in one namespace.
type Store struct {
	Client    kubernetes.Interface
	Namespace string
}

func objectName(id string) string { return "kubeaccess-" + id }

// Save writes a new record, creating the namespace on first use.
func (s Store) Save(ctx context.Context, r Record) error {
	cm, err := toConfigMap(s.Namespace, r)
	if err != nil {
		return err
	}
	create := func() error {
		_, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: labels.Kubeaccess})
		return err
	}
	err = create()
	if apierrors.IsNotFound(err) {
		if err = s.ensureNamespace(ctx); err == nil {
			err = create()
		}
	}
	if err != nil {
		return fmt.Errorf("recording credential %s in namespace %s: %w", r.ID, s.Namespace, err)
	}
	return nil
}

// Modify changes one record with optimistic concurrency: it reads the
// record, lets change alter it, and writes it back only if nobody wrote it
// since, reading and changing again on a conflict, so that a concurrent
// revocation is never lost.
func (s Store) Modify(ctx context.Context, id string, change func(*Record) error) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, objectName(id), metav1.GetOptions{})
		if err != nil {
			return err
		}
		r, err := fromConfigMap(cm)
		if err != nil {
			return err
		}
		if err := change(&r); err != nil {
			return err
		}
		fresh, err := toConfigMap(s.Namespace, r)
		if err != nil {
			return err
		}
		cm.Data, cm.Labels = fresh.Data, fresh.Labels
		_, err = s.Client.CoreV1().ConfigMaps(s.Namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: labels.Kubeaccess})
		return err
	})
	if err != nil {
		return fmt.Errorf("updating the record of credential %s: %w", id, err)
	}
	return nil
}

// CheckNamespace reports whether the records namespace exists, and
// refuses one that kubeaccess did not create: whoever made it may have
// planted records in it.
func (s Store) CheckNamespace(ctx context.Context) (exists bool, err error) {
	ns, err := s.Client.CoreV1().Namespaces().Get(ctx, s.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading namespace %s: %w", s.Namespace, err)
	case ns.Labels[labels.ManagedBy] != labels.Kubeaccess:
		return true, failure.UsageErrorf("the records namespace %s exists but was not created by kubeaccess (it lacks the label %s=%s): "+
			"whoever made it may have written records kubeaccess would read; choose another --records-namespace, "+
			"or label it yourself once you trust what is in it", s.Namespace, labels.ManagedBy, labels.Kubeaccess)
	}
	return true, nil
}

// Get reads one record by ID.
func (s Store) Get(ctx context.Context, id string) (Record, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, objectName(id), metav1.GetOptions{})
	if err != nil {
		return Record{}, fmt.Errorf("reading the record of credential %s: %w", id, err)
	}
	return fromConfigMap(cm)
}

// List returns the records, of user only when user is not "", soonest
// expiry first.
func (s Store) List(ctx context.Context, user string) ([]Record, error) {
	selector := KindLabel
	if user != "" {
		selector += "," + labels.User + "=" + csr.LabelValue(user)
	}
	list, err := s.Client.CoreV1().ConfigMaps(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("reading the records in namespace %s: %w", s.Namespace, err)
	}
	var out []Record
	for i := range list.Items {
		r := readListed(&list.Items[i])
		if user == "" || r.User == user {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return a.NotAfter.Compare(b.NotAfter) })
	return out, nil
}

// Untrusted is a record that kubeaccess does not act on: it cannot be
// read, or it disagrees with itself (Check).
type Untrusted struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// ListTeam returns the records of the credentials issued for team, read
// by their label in one request, soonest expiry first. A record that
// cannot be read, fails Check, or names another team is returned apart,
// as untrusted: one planted record must neither be acted on nor stop the
// team's apply.
func (s Store) ListTeam(ctx context.Context, team string) ([]Record, []Untrusted, error) {
	list, err := s.Client.CoreV1().ConfigMaps(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: KindLabel + "," + labels.Team + "=" + team})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the records of team %s in namespace %s: %w", team, s.Namespace, err)
	}
	recs, untrusted := TeamRecords(team, ptrs(list.Items))
	return recs, untrusted, nil
}

// TeamRecords sorts the records objects of team, as listed (or as an
// informer holds them), into those kubeaccess acts on and the untrusted,
// soonest expiry first.
func TeamRecords(team string, cms []*corev1.ConfigMap) ([]Record, []Untrusted) {
	out := make([]Record, 0, len(cms))
	var untrusted []Untrusted
	for _, cm := range cms {
		r := readListed(cm)
		err := r.Check()
		if err == nil && r.Team != team {
			err = fmt.Errorf("it is labelled for team %s but says team %q", team, r.Team)
		}
		if err != nil {
			untrusted = append(untrusted, Untrusted{Name: cm.Name, Reason: err.Error()})
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return a.NotAfter.Compare(b.NotAfter) })
	return out, untrusted
}

func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

func (s Store) ensureNamespace(ctx context.Context) error {
	ns := rbac.BuildNamespace(s.Namespace)
	_, err := rbac.Apply(ctx, s.Client, []runtime.Object{ns})
	if err != nil {
		return fmt.Errorf("creating the records namespace: %w", err)
	}
	return nil
}

func toConfigMap(namespace string, r Record) (*corev1.ConfigMap, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	l := labels.Managed()
	l[labels.User] = csr.LabelValue(r.User)
	l[KindLabel] = r.Kind
	if r.Team != "" {
		l[labels.Team] = r.Team
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: objectName(r.ID), Namespace: namespace, Labels: l},
		Data:       map[string]string{dataKey: string(data)},
	}
	if r.Certificate != "" {
		cm.Data[certKey] = r.Certificate
	}
	return cm, nil
}

// readListed reads a listed record, or stands in for one that cannot be
// read with a record that says so.
func readListed(cm *corev1.ConfigMap) Record {
	r, err := fromConfigMap(cm)
	if err != nil {
		return Record{ID: strings.TrimPrefix(cm.Name, "kubeaccess-"), unreadable: err.Error()}
	}
	return r
}

func fromConfigMap(cm *corev1.ConfigMap) (Record, error) {
	var r Record
	if err := json.Unmarshal([]byte(cm.Data[dataKey]), &r); err != nil {
		return Record{}, fmt.Errorf("record %s/%s cannot be read: %w", cm.Namespace, cm.Name, err)
	}
	r.Certificate = cm.Data[certKey]
	return r, nil
}

// Read reads the record a ConfigMap holds, as a lister or watch delivers
// it; one that cannot be read stands in with a record that fails Check.
func Read(cm *corev1.ConfigMap) Record { return readListed(cm) }

// IDOfObject is the record ID an object of the records namespace is named
// for, or "" when it names no record.
func IDOfObject(name string) string {
	id, ok := strings.CutPrefix(name, "kubeaccess-")
	if !ok {
		return ""
	}
	return id
}

// ObjectName is the name of the ConfigMap that keeps record id.
func ObjectName(id string) string { return objectName(id) }
