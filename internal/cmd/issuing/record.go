package issuing

import (
	"context"
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// recordPermissions are what keeping a record needs (and, on first use,
// creating its namespace: see Preflight).
func (is *Issuer) recordPermissions() []verify.Permission {
	if is.NoRecord {
		return nil
	}
	return []verify.Permission{
		{Verb: "get", Resource: "namespaces", Name: is.RecordsNamespace},
		{Verb: "create", Resource: "configmaps", Namespace: is.RecordsNamespace},
	}
}

// Record keeps the record of an issued credential, stamped with who issued
// it and when, and returns where it is ("" with --no-record, after a warning).
func (is *Issuer) Record(ctx context.Context, r records.Record) (string, error) {
	if is.NoRecord {
		fmt.Fprintf(is.ErrOut, "warning: --no-record: list, renew and revoke will not know of this credential\n")
		return "", nil
	}
	r.IssuedAt = time.Now().UTC().Truncate(time.Second)
	if is.Identity != nil {
		r.IssuedBy = is.Identity.Username
	}
	if err := is.records().Save(ctx, r); err != nil {
		return "", err
	}
	return is.RecordsNamespace + "/" + r.ID, nil
}

// records is the store of this issuer's records.
func (is *Issuer) records() records.Store {
	return records.Store{Client: is.Client, Namespace: is.RecordsNamespace}
}

// Async starts f and returns a function that waits for its result.
func Async[T any](f func() (T, error)) func() (T, error) {
	var (
		v    T
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		v, err = f()
	}()
	return func() (T, error) {
		<-done
		return v, err
	}
}

// CertificateRecord is the record of an issued certificate.
func CertificateRecord(via, csrName string, certPEM []byte, info pki.CertificateInfo, changes []rbac.Change, namespace string, ttl time.Duration) records.Record {
	return records.Record{
		TTL: ttl.String(),
		ID:  records.CertificateID(info.SHA256), User: info.User, Groups: info.Groups, Kind: "certificate", IssuedVia: via,
		Serial: info.Serial, SHA256: info.SHA256, Issuer: info.Issuer, NotBefore: info.NotBefore, NotAfter: info.NotAfter,
		Access: records.Describe(changes), Namespace: namespace, CSR: csrName, Certificate: string(certPEM),
	}
}

// CredentialGroupOf returns the per-credential group among groups, if any.
func CredentialGroupOf(groups []string) string {
	for _, g := range groups {
		if strings.HasPrefix(g, pki.CredentialGroupPrefix) {
			return g
		}
	}
	return ""
}

// CheckFreshCredentialGroup refuses a per-credential group that a record
// or a binding already uses: a request carrying it would borrow another
// credential's access.
func (is *Issuer) CheckFreshCredentialGroup(ctx context.Context, group string) error {
	recs, err := is.records().List(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.CredentialGroup == group {
			return cmdutil.UsageErrorf("group %q belongs to credential %s of %s: a request may not borrow it", group, r.ID, r.User)
		}
	}
	index, err := rbac.ReadIndex(ctx, is.Client)
	if err != nil {
		return err
	}
	if len(index.BindingsOf(func(s rbacv1.Subject) bool { return s.Kind == rbacv1.GroupKind && s.Name == group })) > 0 {
		return cmdutil.UsageErrorf("group %q is already bound: a request may not borrow another credential's access", group)
	}
	return nil
}
