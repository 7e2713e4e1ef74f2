package controller

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/labels"
)

// The controller trusts a TeamAccess's author only under the admission
// policy shipped in deploy/: any change that could let a writer name
// someone else, or escape the policy, makes it trust none.
func TestCheckAuthorPolicy(t *testing.T) {
	shipped, err := shippedAuthorPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAuthorPolicy(shipped.policy, shipped.binding); err != nil {
		t.Fatalf("the shipped policy is refused: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding)
		want   string
	}{
		"ignore on failure": {func(p *admissionv1.ValidatingAdmissionPolicy, _ *admissionv1.ValidatingAdmissionPolicyBinding) {
			ignore := admissionv1.Ignore
			p.Spec.FailurePolicy = &ignore
		}, "fail closed"},
		"a weakened expression": {func(p *admissionv1.ValidatingAdmissionPolicy, _ *admissionv1.ValidatingAdmissionPolicyBinding) {
			p.Spec.Validations[1].Expression = "true"
		}, "validations or variables differ"},
		"a match condition": {func(p *admissionv1.ValidatingAdmissionPolicy, _ *admissionv1.ValidatingAdmissionPolicyBinding) {
			p.Spec.MatchConditions = []admissionv1.MatchCondition{{Name: "not-me", Expression: "request.userInfo.username != 'mallory'"}}
		}, "match conditions"},
		"updates not matched": {func(p *admissionv1.ValidatingAdmissionPolicy, _ *admissionv1.ValidatingAdmissionPolicyBinding) {
			p.Spec.MatchConstraints.ResourceRules[0].Operations = []admissionv1.OperationType{admissionv1.Create}
		}, "every create and update"},
		"objects excluded by label": {func(p *admissionv1.ValidatingAdmissionPolicy, _ *admissionv1.ValidatingAdmissionPolicyBinding) {
			p.Spec.MatchConstraints.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"checked": "yes"}}
		}, "every create and update"},
		"a binding that only warns": {func(_ *admissionv1.ValidatingAdmissionPolicy, b *admissionv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ValidationActions = []admissionv1.ValidationAction{admissionv1.Warn}
		}, "does not deny"},
		"a binding narrowed by label": {func(_ *admissionv1.ValidatingAdmissionPolicy, b *admissionv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.MatchResources = &admissionv1.MatchResources{ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"checked": "yes"}}}
		}, "narrows"},
		"no binding": {func(_ *admissionv1.ValidatingAdmissionPolicy, b *admissionv1.ValidatingAdmissionPolicyBinding) {
			*b = admissionv1.ValidatingAdmissionPolicyBinding{}
		}, "does not deny"},
	} {
		t.Run(name, func(t *testing.T) {
			p, b := shipped.policy.DeepCopy(), shipped.binding.DeepCopy()
			tc.change(p, b)
			err := checkAuthorPolicy(p, b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if err := checkAuthorPolicy(nil, shipped.binding); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("no policy: %v", err)
	}
}

func TestAuthorOf(t *testing.T) {
	who, err := authorOf(map[string]string{labels.Author: "ann", labels.AuthorGroups: "dev,system:authenticated"})
	if err != nil || who.Username != "ann" || strings.Join(who.Groups, "|") != "dev|system:authenticated" {
		t.Errorf("authorOf: %+v, %v", who, err)
	}
	if who, err := authorOf(map[string]string{labels.Author: "ann"}); err != nil || len(who.Groups) != 0 {
		t.Errorf("an author without groups: %+v, %v", who, err)
	}
	if _, err := authorOf(map[string]string{labels.AuthorGroups: "system:masters"}); err == nil {
		t.Error("a TeamAccess that names no author is trusted")
	}
}
