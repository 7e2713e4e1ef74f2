package issue

import (
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
)

// entry is the kubeconfig entry of the credential.
func (x *Execution) entry(cred *Credential) kubeconfig.Entry {
	e := x.Engine.cluster.EntryFor(x.Plan.Subject.User, x.Plan.Namespace)
	e.Certificate, e.Key, e.Token = cred.CertificatePEM, cred.KeyPEM, cred.Token
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
	return d.Path, kubeconfig.Write(d.Path, e.Config(), d.Force)
}
