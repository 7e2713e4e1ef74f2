package controller

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kubeaccess/kubeaccess/deploy"
	"github.com/kubeaccess/kubeaccess/internal/labels"
)

// AuthorPolicyName names the ValidatingAdmissionPolicy, and its binding,
// that make whoever writes a TeamAccess's spec name themselves as its
// author (deploy/crd-teamaccess.yaml).
const AuthorPolicyName = "kubeaccess-teamaccess-author"

// shippedAuthorPolicy is the policy and binding of deploy/, as shipped.
var shippedAuthorPolicy = sync.OnceValues(func() (*authorPolicy, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(deploy.TeamAccess)))
	out := &authorPolicy{}
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		var probe metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		switch probe.Kind {
		case "ValidatingAdmissionPolicy":
			out.policy = &admissionv1.ValidatingAdmissionPolicy{}
			err = yaml.UnmarshalStrict(doc, out.policy)
		case "ValidatingAdmissionPolicyBinding":
			out.binding = &admissionv1.ValidatingAdmissionPolicyBinding{}
			err = yaml.UnmarshalStrict(doc, out.binding)
		}
		if err != nil {
			return nil, fmt.Errorf("reading deploy/crd-teamaccess.yaml: %w", err)
		}
	}
	if out.policy == nil || out.binding == nil {
		return nil, errors.New("deploy/crd-teamaccess.yaml has no ValidatingAdmissionPolicy and binding")
	}
	return out, nil
})

// authorPolicy is the admission policy and its binding.
type authorPolicy struct {
	policy  *admissionv1.ValidatingAdmissionPolicy
	binding *admissionv1.ValidatingAdmissionPolicyBinding
}

// checkAuthorPolicy says why the cluster's policy and binding (nil when
// missing) do not hold every writer of a TeamAccess to naming themselves,
// or nil when they do: the shipped expressions, failing closed, matching
// every create and update of teamaccesses with nothing excluded, and a
// binding that denies. Anything else and no TeamAccess is trusted.
func checkAuthorPolicy(policy *admissionv1.ValidatingAdmissionPolicy, binding *admissionv1.ValidatingAdmissionPolicyBinding) error {
	want, err := shippedAuthorPolicy()
	if err != nil {
		return err
	}
	const install = "; install deploy/crd-teamaccess.yaml as shipped"
	if policy == nil || binding == nil {
		return fmt.Errorf("the ValidatingAdmissionPolicy %s or its binding is missing, so who wrote a TeamAccess is not known and none is reconciled%s", AuthorPolicyName, install)
	}
	var problems []string
	p, w := policy.Spec, want.policy.Spec
	if p.FailurePolicy == nil || *p.FailurePolicy != admissionv1.Fail {
		problems = append(problems, "it does not fail closed (failurePolicy: Fail)")
	}
	if !apiequality.Semantic.DeepEqual(p.Validations, w.Validations) || !apiequality.Semantic.DeepEqual(p.Variables, w.Variables) {
		problems = append(problems, "its validations or variables differ from those shipped")
	}
	if len(p.MatchConditions) > 0 || p.ParamKind != nil {
		problems = append(problems, "it has match conditions or parameters, which may exempt writers")
	}
	if m := p.MatchConstraints; m == nil || !apiequality.Semantic.DeepEqual(defaulted(m.ResourceRules), defaulted(w.MatchConstraints.ResourceRules)) ||
		len(m.ExcludeResourceRules) > 0 || !emptySelector(m.ObjectSelector) || !emptySelector(m.NamespaceSelector) {
		problems = append(problems, "it does not match every create and update of teamaccesses, or excludes some")
	}
	b := binding.Spec
	if b.PolicyName != AuthorPolicyName || !slices.Contains(b.ValidationActions, admissionv1.Deny) || b.ParamRef != nil {
		problems = append(problems, "its binding does not deny (validationActions: [Deny]) or names another policy")
	}
	if m := b.MatchResources; m != nil && (len(m.ResourceRules) > 0 || len(m.ExcludeResourceRules) > 0 || !emptySelector(m.ObjectSelector) || !emptySelector(m.NamespaceSelector)) {
		problems = append(problems, "its binding narrows what it matches")
	}
	if len(problems) > 0 {
		return fmt.Errorf("the ValidatingAdmissionPolicy %s is not kubeaccess's: %s; so who wrote a TeamAccess is not known and none is reconciled%s",
			AuthorPolicyName, strings.Join(problems, "; "), install)
	}
	return nil
}

// defaulted is rules with the scope the API server gives them when none
// is said ("*").
func defaulted(rules []admissionv1.NamedRuleWithOperations) []admissionv1.NamedRuleWithOperations {
	out := make([]admissionv1.NamedRuleWithOperations, len(rules))
	for i, r := range rules {
		r.DeepCopyInto(&out[i])
		if out[i].Scope == nil {
			all := admissionv1.AllScopes
			out[i].Scope = &all
		}
	}
	return out
}

func emptySelector(s *metav1.LabelSelector) bool {
	return s == nil || len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// authorPolicyHolds checks the cluster's policy and binding, as the
// informers hold them.
func (c *Controller) authorPolicyHolds() error {
	policy, err := c.policies.Get(AuthorPolicyName)
	if apierrors.IsNotFound(err) {
		policy, err = nil, nil
	}
	if err != nil {
		return err
	}
	binding, err := c.policyBindings.Get(AuthorPolicyName)
	if apierrors.IsNotFound(err) {
		binding, err = nil, nil
	}
	if err != nil {
		return err
	}
	return checkAuthorPolicy(policy, binding)
}

// authorOf is who wrote a TeamAccess's spec, from the annotations that
// the admission policy lets only them write.
func authorOf(annotations map[string]string) (*authenticationv1.UserInfo, error) {
	name := annotations[labels.Author]
	if name == "" {
		return nil, fmt.Errorf("it does not say who wrote it (annotation %s), so nothing is bound on its behalf; write it again with kubeaccess apply --server-side", labels.Author)
	}
	who := &authenticationv1.UserInfo{Username: name}
	if g := annotations[labels.AuthorGroups]; g != "" {
		who.Groups = strings.Split(g, ",")
	}
	return who, nil
}
