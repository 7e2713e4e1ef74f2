package issue

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
)

// entry is the kubeconfig entry of the credential.
func (x *Execution) entry(cred *Credential) kubeconfig.Entry {
	e := x.Engine.cluster.EntryFor(x.Plan.Subject.User, x.Plan.Namespace)
	e.Certificate, e.Key, e.Token = cred.CertificatePEM, cred.KeyPEM, cred.Token
	if d := x.Plan.Destination; d.Renewable {
		e.Renewing = &kubeconfig.Renewing{Lifetime: x.Plan.Source.Lifetime().String()}
		if d.RenewBefore > 0 {
			e.Renewing.RenewBefore = d.RenewBefore.String()
		}
		if d.OfflineFor > 0 {
			e.Renewing.OfflineFor = d.OfflineFor.String()
		}
	}
	return e
}

// checkDestination refuses before any change when the kubeconfig could
// not be written as asked.
func (x *Execution) checkDestination() error {
	d := x.Plan.Destination
	var err error
	switch {
	case d.Merge != "":
		_, err = kubeconfig.CheckMerge(d.Merge, x.entry(&Credential{}), d.Force)
	case d.Renewable && x.Plan.Subject.ServiceAccount != nil:
		err = fmt.Errorf("a token renews itself only where it is written (kubeaccess token --renewing)")
	case d.Renewing && d.Path == "":
		err = fmt.Errorf("a renewing kubeconfig is written to a new file (--out), for a certificate")
	case d.Renewing:
		err = errors.Join(kubeconfig.CheckNew(d.Path, d.Force), kubeconfig.CheckNew(renewing.PathFor(d.Path), d.Force))
	case d.Path != "":
		err = kubeconfig.CheckNew(d.Path, d.Force)
	case d.Replace != "":
		_, err = kubeconfig.CheckReplace(d.Replace, d.User)
	}
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	return nil
}

// write writes a new file, merges into an existing one, or replaces one
// entry's credential. The merge target
// is read again here, not reused from checkDestination, so entries added
// to it while the credential was being issued are kept.
func (x *Execution) write(e kubeconfig.Entry) (string, error) {
	d := x.Plan.Destination
	if d.Replace != "" {
		return d.Replace, kubeconfig.ReplaceCredential(d.Replace, d.User, e)
	}
	if d.Merge != "" {
		cfg, err := kubeconfig.CheckMerge(d.Merge, e, d.Force)
		if err != nil {
			return "", err
		}
		return d.Merge, kubeconfig.Merge(d.Merge, cfg, e)
	}
	if d.Renewing {
		return d.Path, x.writeRenewing(e)
	}
	return d.Path, kubeconfig.Write(d.Path, e.Config(), d.Force)
}

// RenewerClusterRole (deploy/controller.yaml) lets a renewing credential
// ask for its own renewal: create certificate requests and read them.
const RenewerClusterRole = "kubeaccess-renewer"

// TokenRenewerRole names the Role with which a renewing token (kubeaccess
// token --renewing) asks for its own account's next token, and nothing
// else: create serviceaccounts/token on that one account.
const TokenRenewerRole = "kubeaccess-token-renewer"

// TokenRenewerObjects are that Role and its binding to the account, in
// its namespace: part of the token's access, recorded and revoked with it.
func TokenRenewerObjects(sa ServiceAccount) []runtime.Object {
	name := rbac.BoundRoleName(rbac.ServiceAccountObjectName(sa.Namespace, sa.Name), "Role", TokenRenewerRole)
	role := rbac.BuildRole(name, sa.Namespace, []rbacv1.PolicyRule{{
		Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{sa.Name},
	}})
	return []runtime.Object{role, rbac.BuildRoleBinding(name, sa.Namespace, "Role", name, rbac.ServiceAccountSubject(sa.Namespace, sa.Name))}
}

// renewerObjects are what let the credential renew itself.
func renewerObjects(s Subject) []runtime.Object {
	if s.ServiceAccount != nil {
		return TokenRenewerObjects(*s.ServiceAccount)
	}
	return []runtime.Object{RenewerBinding(s)}
}

// RenewerBinding binds RenewerClusterRole to a renewing credential: to its
// own group when it has one (so that revoking it takes this away too),
// else to its user. It is part of the credential's access, recorded and
// revoked with it.
func RenewerBinding(s Subject) *rbacv1.ClusterRoleBinding {
	subject, base := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: s.User}, rbac.UserObjectName(s.User)
	if s.CredentialGroup != "" {
		subject, base = rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: s.CredentialGroup}, s.CredentialGroup
	}
	return rbac.BuildClusterRoleBinding(rbac.BoundRoleName(base, "ClusterRole", RenewerClusterRole), RenewerClusterRole, subject)
}

// IsRenewing reports whether the credential of r renews itself: its
// access holds the RenewerBinding (or, for a token, the TokenRenewerRole
// binding) made for it, which each renewal keeps.
func IsRenewing(r records.Record) bool {
	return slices.ContainsFunc(r.Access, func(ref rbac.Ref) bool {
		return ref.Kind == "ClusterRoleBinding" && strings.HasSuffix(ref.Name, "+clusterrole:"+RenewerClusterRole) ||
			ref.Kind == "RoleBinding" && strings.HasSuffix(ref.Name, "+role:"+TokenRenewerRole)
	})
}

// writeRenewing writes the renewing credential's file (its key and
// certificate, 0600) and then the kubeconfig that runs its plugin; the
// file is removed again if the kubeconfig cannot be written.
func (x *Execution) writeRenewing(e kubeconfig.Entry) error {
	d := x.Plan.Destination
	path := renewing.PathFor(d.Path)
	f := renewing.New(e, x.Plan.Subject.User, x.Plan.Subject.Groups, x.Plan.Source.Lifetime(), d.RenewBefore, d.OfflineFor)
	if sa := x.Plan.Subject.ServiceAccount; sa != nil {
		f.ServiceAccount, f.OfflineFor = sa.Namespace+"/"+sa.Name, ""
		if t, ok := x.Plan.Source.(*Token); ok {
			f.Audiences = t.Audiences
		}
		if claims, err := credential.ParseToken(e.Token); err == nil && claims.Kubernetes.Secret.Name != "" {
			f.BoundSecret, f.BoundSecretUID = claims.Kubernetes.Secret.Name, claims.Kubernetes.Secret.UID
		}
	}
	if err := renewing.Write(path, f, d.Force); err != nil {
		return err
	}
	exec, err := renewing.Exec(path)
	if err == nil {
		e.Certificate, e.Key, e.Token, e.Exec = nil, nil, "", exec
		err = kubeconfig.Write(d.Path, e.Config(), d.Force)
	}
	if err != nil {
		return errors.Join(err, os.Remove(path))
	}
	return nil
}
