package records

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Check reports where a record disagrees with itself: with the public
// certificate it holds, or with the names kubeaccess gives the objects of
// its subject. Records are ConfigMaps that anyone allowed to write in the
// records namespace can edit, so a record that fails it is tampered with,
// and nothing is done on its word.
func (r Record) Check() error {
	if r.unreadable != "" {
		return errors.New(r.unreadable)
	}
	switch r.Kind {
	case "certificate":
		if err := r.checkCertificate(); err != nil {
			return err
		}
	case "token":
		if err := r.checkToken(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("record %s is of unknown kind %q", r.ID, r.Kind)
	}
	for _, ref := range r.Access {
		if err := ref.Validate(); err != nil {
			return fmt.Errorf("record %s names %w", r.ID, err)
		}
		if !r.owns(ref.Name) {
			return fmt.Errorf("record %s of %q names %s, which is not a name kubeaccess gives to the objects of that subject", r.ID, r.User, ref.Display())
		}
	}
	return nil
}

func (r Record) checkCertificate() error {
	cert, err := pki.ParseCertificate([]byte(r.Certificate))
	if err != nil {
		return fmt.Errorf("record %s holds no readable certificate: %w", r.ID, err)
	}
	info := pki.Describe(cert)
	switch {
	case info.SHA256 != r.SHA256 || CertificateID(info.SHA256) != r.ID:
		return fmt.Errorf("record %s says fingerprint %s, but its certificate's is %s", r.ID, r.SHA256, info.SHA256)
	case info.User != r.User:
		return fmt.Errorf("record %s says user %q, but its certificate is for %q", r.ID, r.User, info.User)
	case !sameSet(info.Groups, r.Groups):
		return fmt.Errorf("record %s says groups %q, but its certificate carries %q", r.ID, r.Groups, info.Groups)
	case r.CredentialGroup != "" && (!slices.Contains(info.Groups, r.CredentialGroup) || !strings.HasPrefix(r.CredentialGroup, pki.CredentialGroupPrefix)):
		return fmt.Errorf("record %s says credential group %q, which its certificate does not carry", r.ID, r.CredentialGroup)
	case info.Serial != r.Serial || !info.NotAfter.Equal(r.NotAfter):
		return fmt.Errorf("record %s says serial %s valid until %s, but its certificate has serial %s until %s", r.ID, r.Serial, r.NotAfter, info.Serial, info.NotAfter)
	case (r.RenewalIdentityOf != "") != pki.IsRenewalIdentity(r.User, r.Groups):
		return fmt.Errorf("record %s of %q says it is the renewal identity of %q, which its certificate's subject does not", r.ID, r.User, r.RenewalIdentityOf)
	case r.RenewalIdentityOf != "" && (len(r.Access) > 0 || r.CredentialGroup != ""):
		return fmt.Errorf("record %s of renewal identity %q names access of its own", r.ID, r.User)
	}
	return nil
}

func (r Record) checkToken() error {
	ns, name, ok := strings.Cut(r.ServiceAccount, "/")
	switch {
	case !ok || ns == "" || name == "":
		return fmt.Errorf("record %s of a token names no service account", r.ID)
	case r.User != "system:serviceaccount:"+ns+":"+name:
		return fmt.Errorf("record %s says user %q, but its service account is %s", r.ID, r.User, r.ServiceAccount)
	case !strings.HasPrefix(r.ID, "t-"):
		return fmt.Errorf("record %s of a token has a certificate's ID", r.ID)
	case r.CredentialGroup != "":
		return fmt.Errorf("record %s of a token names a credential group", r.ID)
	}
	return nil
}

// owns reports whether kubeaccess names an object after the record's
// subject: its user, one of its groups, its credential group or its
// service account, as rbac.NamePrefix says; and the names kubeaccess
// gave before that scheme ("kubeaccess:USER", ":ROLE" suffixes).
func (r Record) owns(name string) bool {
	var bases, legacy []string
	if ns, sa, ok := strings.Cut(r.ServiceAccount, "/"); ok {
		bases = append(bases, rbac.ServiceAccountObjectName(ns, sa))
		legacy = append(legacy, rbac.ServiceAccountObjectName(ns, sa))
	} else {
		bases = append(bases, rbac.UserObjectName(r.User))
		legacy = append(legacy, rbac.NamePrefix+r.User)
		for _, g := range r.Groups {
			bases = append(bases, rbac.GroupObjectName(g))
			legacy = append(legacy, rbac.GroupObjectName(g))
		}
	}
	if r.CredentialGroup != "" {
		bases = append(bases, r.CredentialGroup)
	}
	for _, b := range bases {
		if name == b || strings.HasPrefix(name, b+"+") {
			return true
		}
	}
	for _, b := range legacy {
		if name == b || strings.HasPrefix(name, b+":") {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
