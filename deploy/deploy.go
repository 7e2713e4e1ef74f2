// Package deploy holds the manifests that install kubeaccess in a cluster.
// The TeamAccess manifest is embedded: the controller checks the admission
// policy it relies on against the one shipped here.
package deploy

import _ "embed"

// TeamAccess is crd-teamaccess.yaml: the CustomResourceDefinition, and the
// ValidatingAdmissionPolicy (with its binding) that makes every writer of
// a TeamAccess's spec name themselves as its author.
//
//go:embed crd-teamaccess.yaml
var TeamAccess []byte
