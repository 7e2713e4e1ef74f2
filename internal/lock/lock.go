// Package lock stops a credential's writes at once, where revoking can
// only stop its renewal: a ValidatingAdmissionPolicy denies every create,
// update, delete and connect (exec, attach, port-forward) of a request
// whose credential ID (the API server's authentication.kubernetes.io/
// credential-id extra, X509SHA256=... or JTI=...) is among the locked
// ones. The locked IDs are the keys of one ConfigMap in the records
// namespace, the policy's parameter, each with when the credential
// expires; kubeaccess controller removes an entry once its credential has
// expired, since an expired credential authenticates nowhere. Admission
// never sees a read (get, list, watch): a locked credential still reads
// what its bindings let it until it expires.
package lock

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// PolicyName names the policy and its binding; ConfigMapName the locks.
const (
	PolicyName    = "kubeaccess-credential-locks"
	ConfigMapName = "kubeaccess-locks"
)

// Key is the ConfigMap key of a credential ID: "=" is not allowed in one,
// so X509SHA256=ab.. is X509SHA256.ab.. (the policy maps it the same way).
func Key(credentialID string) string { return strings.Replace(credentialID, "=", ".", 1) }

// Entry is what a lock says of its credential.
type Entry struct {
	Record   string    `json:"record"`
	User     string    `json:"user"`
	Until    time.Time `json:"until"`
	LockedBy string    `json:"lockedBy,omitempty"`
	LockedAt time.Time `json:"lockedAt"`
}

// Lock is one locked credential.
type Lock struct {
	CredentialID string
	Entry
}

// Policy is the admission policy and its binding. It matches every
// write and connect of a request that carries a credential ID, and denies
// it when that ID is locked; it allows everything while the ConfigMap is
// missing or empty. Its expressions cannot fail on any request (they test
// for what they read), since a failing one would deny it.
func Policy(namespace string) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	meta := metav1.ObjectMeta{Name: PolicyName, Labels: labels.Managed()}
	ids := "request.userInfo.extra['" + records.CredentialIDExtra + "']"
	policy := &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: meta,
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			ParamKind:     &admissionv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect},
					Rule:       admissionv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}, Scope: ptr.To(admissionv1.AllScopes)},
				},
			}}},
			MatchConditions: []admissionv1.MatchCondition{{
				Name: "has-credential-id",
				// A request without extras has no extra field at all:
				// reading it would be an error, and deny the request.
				Expression: "has(request.userInfo.extra) && '" + records.CredentialIDExtra + "' in request.userInfo.extra",
			}},
			Validations: []admissionv1.Validation{{
				Expression: "!has(params.data) || !" + ids + ".exists(id, id.replace('=', '.', 1) in params.data)",
				MessageExpression: "'this credential (' + " + ids + ".join(', ') + ') is locked by kubeaccess lock: ' + " +
					"'it may not write, exec, attach or port-forward until it expires'",
				Reason: ptr.To(metav1.StatusReasonForbidden),
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: meta,
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: PolicyName,
			ParamRef: &admissionv1.ParamRef{Name: ConfigMapName, Namespace: namespace,
				ParameterNotFoundAction: ptr.To(admissionv1.AllowAction)},
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
		},
	}
	return policy, binding
}

// EnsurePolicy creates the policy and its binding unless they exist. One
// that exists is left as it is: whoever changed it may have meant to.
func EnsurePolicy(ctx context.Context, client kubernetes.Interface, namespace string) error {
	policy, binding := Policy(namespace)
	adm := client.AdmissionregistrationV1()
	if _, err := adm.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{FieldManager: labels.Kubeaccess}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ValidatingAdmissionPolicy %s: %w", PolicyName, err)
	}
	if _, err := adm.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{FieldManager: labels.Kubeaccess}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ValidatingAdmissionPolicyBinding %s: %w", PolicyName, err)
	}
	return nil
}

// Store reads and changes the locks.
type Store struct {
	Client    kubernetes.Interface
	Namespace string
}

// List is every lock, by credential ID. An entry that cannot be read is
// listed with what is known: its ID.
func (s Store) List(ctx context.Context) ([]Lock, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []Lock
	for _, key := range slices.Sorted(maps.Keys(cm.Data)) {
		l := Lock{CredentialID: strings.Replace(key, ".", "=", 1)}
		_ = json.Unmarshal([]byte(cm.Data[key]), &l.Entry)
		out = append(out, l)
	}
	return out, nil
}

// Change applies change to the locks, by ConfigMap key, creating the
// ConfigMap when it does not exist; on a conflict it reads them again and
// applies change again.
func (s Store) Change(ctx context.Context, change func(data map[string]string) error) error {
	cms := s.Client.CoreV1().ConfigMaps(s.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, ConfigMapName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: s.Namespace, Labels: labels.Managed()}}
			if err := change(ensure(cm)); err != nil {
				return err
			}
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: labels.Kubeaccess})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("configmaps"), ConfigMapName, err)
			}
			return err
		} else if err != nil {
			return err
		}
		if err := change(ensure(cm)); err != nil {
			return err
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: labels.Kubeaccess})
		return err
	})
}

func ensure(cm *corev1.ConfigMap) map[string]string {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	return cm.Data
}

// Add locks each credential of locks.
func (s Store) Add(ctx context.Context, locks []Lock) error {
	return s.Change(ctx, func(data map[string]string) error {
		for _, l := range locks {
			v, err := json.Marshal(l.Entry)
			if err != nil {
				return err
			}
			data[Key(l.CredentialID)] = string(v)
		}
		return nil
	})
}

// Remove unlocks the credentials of ids; it returns those that were
// locked.
func (s Store) Remove(ctx context.Context, ids []string) ([]string, error) {
	var removed []string
	err := s.Change(ctx, func(data map[string]string) error {
		removed = nil
		for _, id := range ids {
			if _, ok := data[Key(id)]; ok {
				delete(data, Key(id))
				removed = append(removed, id)
			}
		}
		return nil
	})
	return removed, err
}

// Prune removes the locks of credentials expired at now, and returns
// their IDs. An entry whose expiry cannot be read is kept: the lock is
// the safer thing to keep.
func (s Store) Prune(ctx context.Context, now time.Time) ([]string, error) {
	locks, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var expired []string
	for _, l := range locks {
		if !l.Until.IsZero() && now.After(l.Until) {
			expired = append(expired, l.CredentialID)
		}
	}
	if len(expired) == 0 {
		return nil, nil
	}
	return s.Remove(ctx, expired)
}
