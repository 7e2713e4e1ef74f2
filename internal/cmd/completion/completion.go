// Package completion gives commands shell completion that knows the
// cluster: namespaces, resources from discovery, roles, cluster roles,
// service accounts, pending requests, and the users and credentials of
// kubeaccess's records. Each function lists from the cluster the command
// line names (--kubeconfig, --context, -n), and offers nothing when it
// cannot reach it.
package completion

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Func is a cobra completion function.
type Func = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective)

// timeout bounds a completion's requests: a shell waits on it.
const timeout = 5 * time.Second

// from builds a completion that lists names with the cluster's client.
func from(flags *genericclioptions.ConfigFlags, list func(ctx context.Context, client kubernetes.Interface, namespace string) ([]string, error)) Func {
	return fromCmd(flags, func(_ *cobra.Command) func(ctx context.Context, client kubernetes.Interface, namespace string) ([]string, error) {
		return list
	})
}

// fromCmd is from, for lists that read the command's own flags.
func fromCmd(flags *genericclioptions.ConfigFlags, lister func(cmd *cobra.Command) func(ctx context.Context, client kubernetes.Interface, namespace string) ([]string, error)) Func {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		list := lister(cmd)
		cfg, err := flags.ToRESTConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		namespace, _, _ := flags.ToRawKubeConfigLoader().Namespace()
		ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
		defer cancel()
		names, err := list(ctx, client, namespace)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return matching(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// matching keeps the names starting with prefix, sorted, once each.
func matching(names []string, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Namespaces completes namespace names.
func Namespaces(flags *genericclioptions.ConfigFlags) Func { return names(flags, "namespaces") }

// Roles completes the Roles of the namespace.
func Roles(flags *genericclioptions.ConfigFlags) Func { return names(flags, "roles") }

// ClusterRoles completes ClusterRole names.
func ClusterRoles(flags *genericclioptions.ConfigFlags) Func { return names(flags, "clusterroles") }

// ServiceAccounts completes the service accounts of the namespace.
func ServiceAccounts(flags *genericclioptions.ConfigFlags) Func {
	return names(flags, "serviceaccounts")
}

func names(flags *genericclioptions.ConfigFlags, kind string) Func {
	return from(flags, func(ctx context.Context, c kubernetes.Interface, namespace string) ([]string, error) {
		return rbac.Names(ctx, c, kind, namespace)
	})
}

// PendingRequests completes the client-certificate requests waiting for
// a decision.
func PendingRequests(flags *genericclioptions.ConfigFlags) Func {
	return from(flags, func(ctx context.Context, c kubernetes.Interface, _ string) ([]string, error) {
		pending, err := csr.Pending(ctx, c)
		names := make([]string, len(pending))
		for i, req := range pending {
			names[i] = req.Name
		}
		return names, err
	})
}

// Users completes the users kubeaccess keeps records of, in the
// command's --records-namespace.
func Users(flags *genericclioptions.ConfigFlags) Func {
	return fromRecords(flags, func(r records.Record) []string { return []string{r.User} })
}

// Credentials completes credential identifiers: record IDs, and the
// credential groups of revocable certificates.
func Credentials(flags *genericclioptions.ConfigFlags) Func {
	return fromRecords(flags, func(r records.Record) []string {
		if r.CredentialGroup != "" {
			return []string{r.ID, r.CredentialGroup}
		}
		return []string{r.ID}
	})
}

func fromRecords(flags *genericclioptions.ConfigFlags, names func(records.Record) []string) Func {
	return fromCmd(flags, func(cmd *cobra.Command) func(ctx context.Context, client kubernetes.Interface, namespace string) ([]string, error) {
		ns, err := cmd.Flags().GetString("records-namespace")
		if err != nil || ns == "" {
			ns = records.DefaultNamespace
		}
		return func(ctx context.Context, c kubernetes.Interface, _ string) ([]string, error) {
			recs, err := records.Store{Client: c, Namespace: ns}.List(ctx, "")
			if err != nil {
				return nil, err
			}
			var out []string
			for _, r := range recs {
				out = append(out, names(r)...)
			}
			return out, nil
		}
	})
}

// Resources completes resource names from discovery, plural and
// subresources, qualified by group outside the core group; in a
// comma-separated list (--resource pods,dep), the last item.
func Resources(flags *genericclioptions.ConfigFlags) Func {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		disco, err := flags.ToDiscoveryClient()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		_, lists, err := disco.ServerGroupsAndResources()
		if err != nil && len(lists) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, list := range lists {
			group, _, _ := strings.Cut(list.GroupVersion, "/")
			if !strings.Contains(list.GroupVersion, "/") {
				group = ""
			}
			for _, r := range list.APIResources {
				names = append(names, rbac.GroupResource{Group: group, Resource: r.Name}.String())
			}
		}
		head := ""
		if i := strings.LastIndex(toComplete, ","); i >= 0 {
			head, toComplete = toComplete[:i+1], toComplete[i+1:]
		}
		out := matching(names, toComplete)
		for i := range out {
			out[i] = head + out[i]
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// Register gives every command of the tree the completion of the flags it
// has, by name: -n, --resource, --role, --clusterrole, --credential,
// --user (list's).
func Register(root *cobra.Command, flags *genericclioptions.ConfigFlags) {
	byFlag := map[string]Func{
		"resource": Resources(flags), "role": Roles(flags), "clusterrole": ClusterRoles(flags), "credential": Credentials(flags),
	}
	_ = root.RegisterFlagCompletionFunc("namespace", Namespaces(flags))
	positional := map[string]Func{
		"approve": First(PendingRequests(flags)),
		"deny":    First(PendingRequests(flags)),
		"token":   First(ServiceAccounts(flags)),
		"revoke":  First(Users(flags)),
		"can":     nth(Users(flags), verbs, Resources(flags)),
		"who-can": nth(verbs, Resources(flags)),
	}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if f, ok := positional[cmd.Name()]; ok && cmd.Parent() == root {
			cmd.ValidArgsFunction = f
		}
		// LocalNonPersistentFlags builds a new flag set at each call: once
		// per command, since every invocation walks the whole tree.
		local := cmd.LocalNonPersistentFlags()
		for name, f := range byFlag {
			if local.Lookup(name) != nil {
				_ = cmd.RegisterFlagCompletionFunc(name, f)
			}
		}
		if cmd.Name() == "list" && local.Lookup("user") != nil {
			_ = cmd.RegisterFlagCompletionFunc("user", Users(flags))
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}

// nth completes the i-th argument with fs[i], and nothing after them.
func nth(fs ...Func) Func {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= len(fs) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fs[len(args)](cmd, args, toComplete)
	}
}

// verbs completes the verbs authorizers check.
func verbs(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return matching(rbac.KnownVerbs, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// First completes the first argument with f, and nothing after it.
func First(f Func) Func {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(cmd, args, toComplete)
	}
}
