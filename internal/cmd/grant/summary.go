package grant

import (
	"crypto/x509"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Summary is what a grant issued, printed for people or as -o json|yaml.
type Summary struct {
	User         string               `json:"user"`
	Groups       []string             `json:"groups"`
	Kind         string               `json:"kind"`
	IssuedVia    string               `json:"issuedVia"`
	CSR          string               `json:"certificateSigningRequest,omitempty"`
	Certificate  pki.CertificateInfo  `json:"certificate"`
	RequestedTTL string               `json:"requestedTTL"`
	Lifetime     string               `json:"lifetime"`
	ExpiresIn    string               `json:"expiresIn"`
	Clamped      bool                 `json:"clampedBySigner"`
	IssuedBy     string               `json:"issuedBy,omitempty"`
	Revocable    bool                 `json:"revocable,omitempty"`
	Applied      []string             `json:"applied"`
	Kubeconfig   string               `json:"kubeconfig"`
	Context      string               `json:"context"`
	Namespace    string               `json:"namespace"`
	Verified     issuing.Verification `json:"verified"`
	Record       string               `json:"record,omitempty"`
}

// summary describes the issued certificate. Its lifetime is read from the
// certificate, since a signer may shorten the requested TTL: the
// kube-controller-manager signer backdates NotBefore and keeps
// NotAfter-NotBefore equal to the TTL unless its --cluster-signing-duration
// (or its CA's expiry) is shorter.
func (o *Options) summary(csrName string, cert *x509.Certificate, changes []rbac.Change, path string) Summary {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	expiresIn := time.Until(cert.NotAfter).Round(time.Minute)
	clamped := lifetime < o.TTL-time.Second
	if clamped {
		fmt.Fprintf(o.ErrOut, "warning: the signer shortened the certificate's lifetime: it expires in %s (asked for %s)\n", expiresIn, o.TTL)
	}
	applied := make([]string, len(changes))
	for i, c := range changes {
		applied[i] = c.String()
	}
	var issuedBy string
	if o.is.Identity != nil {
		issuedBy = o.is.Identity.Username
	}
	return Summary{
		Revocable: o.credentialGroup != "",
		IssuedVia: o.issuedVia(),
		IssuedBy:  issuedBy,
		User:      o.User, Groups: o.Groups, Kind: "certificate", CSR: csrName,
		Certificate:  pki.Describe(cert),
		RequestedTTL: o.TTL.String(), Lifetime: lifetime.String(), ExpiresIn: expiresIn.String(), Clamped: clamped,
		Applied:    applied,
		Kubeconfig: path, Context: issuing.ContextName(o.User, o.is.Cluster.Name), Namespace: o.is.Namespace,
	}
}

func (o *Options) printSummary(s Summary) error {
	if o.Output != "" {
		return cmdutil.PrintStructured(o.Out, o.Output, s)
	}
	groups := "no groups"
	if len(s.Groups) > 0 {
		groups = "groups " + strings.Join(s.Groups, ",")
	}
	fmt.Fprintf(o.Out, "Granted %s (%s) a client certificate\n", s.User, groups)
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	c := s.Certificate
	fmt.Fprintf(w, "  serial\t%s\n  sha256\t%s\n  key\t%s\n", c.Serial, c.SHA256, c.KeyType)
	fmt.Fprintf(w, "  valid\t%s to %s (expires in %s)\n", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), s.ExpiresIn)
	if len(s.Applied) > 0 {
		fmt.Fprintf(w, "  applied\t%s\n", strings.Join(s.Applied, ", "))
	} else {
		fmt.Fprintf(w, "  applied\tnothing: no access was asked for, so the certificate only authenticates %s\n", s.User)
	}
	fmt.Fprintf(w, "  kubeconfig\t%s (context %s, namespace %s)\n", s.Kubeconfig, s.Context, s.Namespace)
	if o.Offline {
		fmt.Fprintf(w, "  verified\tnot tried (--offline)\n")
	} else {
		fmt.Fprintf(w, "  verified\tthe API server sees %s in [%s]; %d granted permissions allowed\n",
			s.Verified.Username, strings.Join(s.Verified.Groups, " "), s.Verified.Checked)
	}
	if s.Record != "" {
		fmt.Fprintf(w, "  record\t%s\n", s.Record)
	}
	return w.Flush()
}

// issuedVia names the path the certificate took.
func (o *Options) issuedVia() string {
	if o.authority != nil {
		return "offline-ca"
	}
	return "csr-api"
}

// record is what the inventory keeps of the certificate.
func (o *Options) record(csrName string, issued []byte, cert *x509.Certificate, changes []rbac.Change) records.Record {
	r := issuing.CertificateRecord(o.issuedVia(), csrName, issued, pki.Describe(cert), changes, o.is.Namespace, o.TTL)
	r.CredentialGroup = o.credentialGroup
	return r
}

// printDryRun prints the objects the grant would create; signing offline
// creates no CertificateSigningRequest (req nil).
func (o *Options) printDryRun(req *certificatesv1.CertificateSigningRequest, createNamespace bool, acc *issuing.Access) error {
	var objs []runtime.Object
	if req != nil {
		objs = append(objs, req)
	}
	if createNamespace {
		objs = append(objs, rbac.BuildNamespace(o.is.Namespace))
	}
	if acc != nil {
		objs = append(objs, acc.Objects()...)
	}
	if o.Output == "json" {
		list := &metav1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
		for _, obj := range objs {
			list.Items = append(list.Items, runtime.RawExtension{Object: obj})
		}
		return (&printers.JSONPrinter{}).PrintObj(list, o.Out)
	}
	p := &printers.YAMLPrinter{}
	for _, obj := range objs {
		if err := p.PrintObj(obj, o.Out); err != nil {
			return err
		}
	}
	return nil
}
