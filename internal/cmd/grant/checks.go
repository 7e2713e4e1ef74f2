package grant

import (
	"context"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// preflight runs the shared checks with grant's own: the CSR permissions,
// and the refusal of an identity with escalation-grade permissions.
func (o *Options) preflight(ctx context.Context) (*issuing.Access, bool, error) {
	subject, base := issuing.BindingSubject(o.User, o.credentialGroup, o.BindGroup)
	return o.is.Preflight(ctx, issuing.Checks{
		Command:  "grant",
		Required: o.requiredPermissions(),
		Subject:  subject,
		Base:     base,
		Identity: privilege.ForUser(o.User, o.Groups),
		DryRun:   o.DryRun,
	})
}

// requiredPermissions lists what the CSR round trip needs: nothing when
// signing offline.
func (o *Options) requiredPermissions() []verify.Permission {
	const csrGroup = certificatesv1.GroupName
	if o.CACert != "" {
		return nil
	}
	perms := []verify.Permission{
		{Verb: "create", Group: csrGroup, Resource: "certificatesigningrequests"},
		{Verb: "watch", Group: csrGroup, Resource: "certificatesigningrequests"},
	}
	if o.Approve {
		perms = append(perms,
			verify.Permission{Verb: "update", Group: csrGroup, Resource: "certificatesigningrequests", Subresource: "approval"},
			verify.Permission{Verb: "approve", Group: csrGroup, Resource: "signers", Name: certificatesv1.KubeAPIServerClientSignerName},
		)
	}
	return perms
}
