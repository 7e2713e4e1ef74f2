// Package issuing holds what the commands that issue a credential share
// (grant, token, approve, sign): the access, kubeconfig and policy flags
// turned into a plan for the engine (package issue), and its events
// printed.
package issuing

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// DefaultMaxTTL is the longest lifetime issued unless --max-ttl raises it;
// audit's --max-ttl reports longer ones by the same default.
const DefaultMaxTTL = "90d"

// Flags are the access and kubeconfig flags of an issuing command.
type Flags struct {
	Verbs           []string
	Resources       []string
	Role            string
	ClusterRole     string
	ClusterWide     bool
	CreateNamespace bool
	OutFile         string
	Merge           string
	Force           bool
	Server          string
	// RecordsNamespace holds the records of what is issued; NoRecord skips them.
	RecordsNamespace string
	NoRecord         bool
	// AllowPrivileged issues even when the identity holds, or would hold,
	// escalation-grade permissions, or when that cannot be checked.
	AllowPrivileged bool
	// Strict refuses an identity that other bindings already give more
	// than what is granted.
	Strict bool
	// MaxTTL bounds the lifetime of what is issued (as 90d or 2160h).
	MaxTTL string
	maxTTL time.Duration
	// DryRun is --dry-run: none, client or server.
	DryRun string
	dryRun issue.DryRun
}

// NewFlags returns Flags with their defaults.
func NewFlags() Flags {
	return Flags{CreateNamespace: true, RecordsNamespace: records.DefaultNamespace, MaxTTL: DefaultMaxTTL}
}

// AddAccessFlags registers the flags of the access to bind.
func (f *Flags) AddAccessFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.Verbs, "verb", nil, "Verbs to grant on --resource, e.g. get,list,watch")
	fs.StringSliceVar(&f.Resources, "resource", nil, "Resources to grant --verb on, e.g. pods,deployments.apps,pods/log")
	fs.StringVar(&f.Role, "role", "", "Bind this existing Role in the namespace")
	fs.StringVar(&f.ClusterRole, "clusterrole", "", "Bind this existing ClusterRole, in the namespace or with --cluster-wide everywhere")
	fs.BoolVar(&f.ClusterWide, "cluster-wide", false, "Grant across the cluster (ClusterRole and ClusterRoleBinding)")
	fs.BoolVar(&f.CreateNamespace, "create-namespace", f.CreateNamespace, "Create the namespace if it does not exist")
}

// AddFlags registers the flags. outDefault describes --out's default.
func (f *Flags) AddFlags(fs *pflag.FlagSet, outDefault string) {
	f.AddAccessFlags(fs)
	fs.StringVar(&f.OutFile, "out", "", "Kubeconfig file to write (default "+outDefault+")")
	fs.StringVar(&f.Merge, "merge", "", "Add the cluster, user and context to this existing kubeconfig instead")
	fs.BoolVar(&f.Force, "force", false, "Replace an existing --out file, or entries of the same name in --merge")
	fs.StringVar(&f.Server, "server-url", "", "API server URL for the new kubeconfig (default: the current context's)")
	fs.StringVar(&f.RecordsNamespace, "records-namespace", f.RecordsNamespace, "Namespace of the records of issued credentials")
	fs.BoolVar(&f.NoRecord, "no-record", false, "Keep no record (list, renew and revoke will not know of this credential)")
	fs.BoolVar(&f.AllowPrivileged, "allow-privileged", false, "Issue even to an identity that holds, or would hold, escalation-grade permissions (see README, Safety), or when that cannot be checked")
	fs.StringVar(&f.MaxTTL, "max-ttl", f.MaxTTL, "Refuse lifetimes longer than this (e.g. 90d, 720h)")
	fs.BoolVar(&f.Strict, "strict", false, "Refuse when other bindings already give the identity more than this grant (they are reported either way)")
}

// MaxLifetime is --max-ttl, once validated.
func (f *Flags) MaxLifetime() time.Duration { return f.maxTTL }

// CheckLifetime refuses a lifetime over --max-ttl; what names it.
func (f *Flags) CheckLifetime(what string, ttl time.Duration) error {
	if ttl > f.maxTTL {
		return failure.UsageErrorf("%s %s is longer than --max-ttl %s: credentials that cannot be revoked should be short-lived; raise --max-ttl to allow it", what, ttl, f.MaxTTL)
	}
	return nil
}

// Validate checks the flags that no plan checks, without I/O: one
// destination, --max-ttl and --dry-run. The access is checked with the
// plan.
func (f *Flags) Validate() error {
	if f.OutFile != "" && f.Merge != "" {
		return fmt.Errorf("--out and --merge cannot be used together")
	}
	var err error
	if f.maxTTL, err = cmdutil.ParseWindow(f.MaxTTL); err != nil {
		return fmt.Errorf("--max-ttl: %w", err)
	}
	f.dryRun, err = issue.ParseDryRun(f.DryRun)
	return err
}

// Access is the access the flags ask for.
func (f *Flags) Access() issue.AccessSpec {
	return issue.AccessSpec{Verbs: f.Verbs, Resources: f.Resources, Role: f.Role, ClusterRole: f.ClusterRole, ClusterWide: f.ClusterWide}
}

// HasAccess reports whether RBAC is to be bound at all.
func (f *Flags) HasAccess() bool { return !f.Access().Empty() }
