// Package inspect implements "kubeaccess inspect": what a certificate,
// certificate request, private key or kubeconfig holds.
package inspect

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/inspect"
)

// Options holds the flags of "kubeaccess inspect".
type Options struct {
	File   string
	Output *cmdutil.Output

	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdInspect returns the "inspect" command.
func NewCmdInspect(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "inspect FILE|-",
		Short: "Show what a certificate, certificate request, private key or kubeconfig holds",
		Long: `Decode a PEM certificate (or bundle), certificate request or private key, or
a kubeconfig, and show subject, groups, issuer, serial, SHA-256 fingerprint,
key type, usages and validity. Of a private key only the type and size are
shown. Of a kubeconfig each user is shown with its certificate or token
claims, whether its key matches, and whether the certificate chains to the
cluster CA in the same file. "-" reads standard input.`,
		Example: `  kubeaccess inspect dave.kubeconfig
  kubeaccess inspect dave.csr -o json
  kubectl get csr NAME -o jsonpath='{.spec.request}' | base64 -d | kubeaccess inspect -`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.RunE(nil, o),
	}
	o.Output.AddFlags(cmd)
	return cmd
}

// Complete reads the file's name; inspect makes no API request.
func (o *Options) Complete(_ cmdutil.Factory, args []string) error {
	o.File = args[0]
	return nil
}

// Validate checks -o.
func (o *Options) Validate() error { return o.Output.Validate() }

// Run decodes the file and prints the report.
func (o *Options) Run(context.Context) error {
	data, dir, err := o.read()
	if err != nil {
		return err
	}
	report, err := inspect.Decode(data, dir, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", o.name(), err)
	}
	if o.Output.Structured() {
		return o.Output.PrintSummary(o.Out, "Inspection", o.name(), report)
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	printReport(w, report)
	return w.Flush()
}

func (o *Options) read() (data []byte, dir string, err error) {
	if o.File == "-" {
		data, err = io.ReadAll(o.In)
		return data, ".", err
	}
	data, err = os.ReadFile(o.File)
	return data, filepath.Dir(o.File), err
}

func (o *Options) name() string {
	if o.File == "-" {
		return "standard input"
	}
	return o.File
}

func printReport(w io.Writer, r *inspect.Report) {
	switch {
	case r.Key != nil:
		fmt.Fprintf(w, "private key\t%s (content not shown)\n", r.Key.Type)
	case r.Request != nil:
		q := r.Request
		fmt.Fprintf(w, "certificate request\n  user\t%s\n  groups\t%s\n  key\t%s\n  signature\t%s\n", q.User, list(q.Groups), q.KeyType, validity(q.SignatureValid))
		if len(q.Names) > 0 {
			fmt.Fprintf(w, "  alternative names\t%s (a Kubernetes client certificate needs none)\n", strings.Join(q.Names, ", "))
		}
	case r.Kubeconfig != nil:
		printKubeconfig(w, r.Kubeconfig)
	default:
		for i, c := range r.Certificates {
			fmt.Fprintf(w, "certificate %d of %d\n", i+1, len(r.Certificates))
			printCertificate(w, "  ", c)
		}
	}
}

func printCertificate(w io.Writer, indent string, c inspect.Certificate) {
	fmt.Fprintf(w, "%suser\t%s\n%sgroups\t%s\n%sissuer\t%s\n", indent, c.User, indent, list(c.Groups), indent, c.Issuer)
	fmt.Fprintf(w, "%sserial\t%s\n%ssha256\t%s\n%skey\t%s\n", indent, c.Serial, indent, c.SHA256, indent, c.KeyType)
	fmt.Fprintf(w, "%scredential\t%s (record %s)\n", indent, c.CredentialID, c.RecordID)
	fmt.Fprintf(w, "%susages\t%s\n", indent, list(c.Usages))
	if c.IsCA {
		fmt.Fprintf(w, "%sCA\tyes\n", indent)
	}
	fmt.Fprintf(w, "%svalid\t%s to %s (%s)\n", indent, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), remaining(c))
}

func printKubeconfig(w io.Writer, k *inspect.Kubeconfig) {
	fmt.Fprintf(w, "kubeconfig\t(current context %s)\n", orNone(k.CurrentContext))
	for _, u := range k.Users {
		fmt.Fprintf(w, "user %s\t%s; contexts %s; cluster %s at %s\n", u.Name, u.Credential, list(u.Contexts), orNone(u.Cluster), orNone(u.Server))
		if u.Certificate != nil {
			printCertificate(w, "  ", *u.Certificate)
			switch {
			case !u.HasKey:
				fmt.Fprintf(w, "  private key\tmissing: this user cannot authenticate until its key is added\n")
			case *u.KeyMatches:
				fmt.Fprintf(w, "  private key\tpresent, matches the certificate\n")
			default:
				fmt.Fprintf(w, "  private key\tpresent, DOES NOT match the certificate\n")
			}
			if u.ChainsToClusterCA != nil {
				fmt.Fprintf(w, "  chains to cluster CA\t%s\n", yesNo(*u.ChainsToClusterCA))
			}
		}
		if t := u.Token; t != nil {
			fmt.Fprintf(w, "  subject\t%s\n  audience\t%s\n  issuer\t%s\n", t.Subject, list(t.Audience), t.Issuer)
			if !t.ExpiresAt.IsZero() {
				fmt.Fprintf(w, "  expires\t%s (%s)\n", t.ExpiresAt.Format(time.RFC3339), time.Until(t.ExpiresAt).Round(time.Second))
			}
		}
		if u.Problem != "" {
			fmt.Fprintf(w, "  problem\t%s\n", u.Problem)
		}
	}
}

func remaining(c inspect.Certificate) string {
	if c.Expired {
		return c.Remaining
	}
	return c.Remaining + " left"
}

func list(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func validity(ok bool) string {
	if ok {
		return "valid (the requester holds the key)"
	}
	return "INVALID"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
