package issuing

import (
	"context"
	"fmt"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// recordPermissions are what keeping a record needs.
func (is *Issuer) recordPermissions() []verify.Permission {
	if is.NoRecord {
		return nil
	}
	return []verify.Permission{{Verb: "create", Resource: "configmaps", Namespace: is.RecordsNamespace}}
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
	if err := (records.Store{Client: is.Client, Namespace: is.RecordsNamespace}).Save(ctx, r); err != nil {
		return "", err
	}
	return is.RecordsNamespace + "/" + r.ID, nil
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
