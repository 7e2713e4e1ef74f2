package invite

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// The objects of invites in the records namespace.
const (
	// Label marks an invite's ConfigMap.
	Label = "kubeaccess.io/invite"
	// KeySecret holds the key that seals invites.
	KeySecret = "kubeaccess-invite-key"
	keyData   = "key"
	dataKey   = "invite.json"
	sealKey   = "seal"
)

// Store keeps invites in the records namespace.
type Store struct {
	Client    kubernetes.Interface
	Namespace string
	// Known, when set, is a watch-fed view of the invitations' objects:
	// a token that names none of them is unknown without a request to
	// the API server, so that guessing costs the cluster nothing.
	Known corelisters.SecretNamespaceLister
}

func objectName(id string) string { return "kubeaccess-" + id }

// Key reads the key that seals invites; with create, it is made (with
// the namespace) when missing.
func (s Store) Key(ctx context.Context, create bool) ([]byte, error) {
	secrets := s.Client.CoreV1().Secrets(s.Namespace)
	sec, err := secrets.Get(ctx, KeySecret, metav1.GetOptions{})
	if err == nil {
		if len(sec.Data[keyData]) < 32 || sec.Labels[labels.ManagedBy] != labels.Kubeaccess {
			return nil, fmt.Errorf("the Secret %s/%s is not kubeaccess's invitation key", s.Namespace, KeySecret)
		}
		return sec.Data[keyData], nil
	}
	if !apierrors.IsNotFound(err) || !create {
		return nil, fmt.Errorf("reading the invitation key (Secret %s/%s): %w", s.Namespace, KeySecret, err)
	}
	if err := s.ensureNamespace(ctx); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: KeySecret, Namespace: s.Namespace, Labels: labels.Managed()},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{keyData: key}}
	if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{FieldManager: labels.Kubeaccess}); apierrors.IsAlreadyExists(err) {
		return s.Key(ctx, false)
	} else if err != nil {
		return nil, fmt.Errorf("creating the invitation key (Secret %s/%s): %w", s.Namespace, KeySecret, err)
	}
	return key, nil
}

func (s Store) ensureNamespace(ctx context.Context) error {
	exists, err := records.Store{Client: s.Client, Namespace: s.Namespace}.CheckNamespace(ctx)
	if err != nil || exists {
		return err
	}
	_, err = rbac.Apply(ctx, s.Client, []runtime.Object{rbac.BuildNamespace(s.Namespace)})
	return err
}

// SecretType marks the Secrets that hold invitations.
const SecretType corev1.SecretType = "kubeaccess.io/invitation"

// Invitations are Secrets, not ConfigMaps: the seal stops a forgery, but
// not a copy of an open invitation written back after it was used. Whoever
// may write Secrets in the records namespace may already make a token for
// the portal's own service account (a service-account-token Secret), so
// keeping invitations there lets no one roll one back who could not
// already do more.

// Create stores a new invite, sealed with key, and returns it as stored.
func (s Store) Create(ctx context.Context, key []byte, inv *Invite) (*Stored, error) {
	sec, err := s.toSecret(key, inv)
	if err != nil {
		return nil, err
	}
	got, err := s.Client.CoreV1().Secrets(s.Namespace).Create(ctx, sec, metav1.CreateOptions{FieldManager: labels.Kubeaccess})
	if err != nil {
		return nil, fmt.Errorf("storing invite %s: %w", inv.ID, err)
	}
	return &Stored{Invite: inv, obj: got}, nil
}

func (s Store) toSecret(key []byte, inv *Invite) (*corev1.Secret, error) {
	data, mac, err := inv.Seal(key)
	if err != nil {
		return nil, err
	}
	l := labels.Managed()
	l[Label] = "true"
	l[labels.User] = labelValue(inv.User)
	if inv.Team != "" {
		l[labels.Team] = inv.Team
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: objectName(inv.ID), Namespace: s.Namespace, Labels: l},
		Type:       SecretType,
		Data:       map[string][]byte{dataKey: data, sealKey: []byte(mac)},
	}, nil
}

// labelValue keeps a user name a valid label value, for selecting.
func labelValue(s string) string {
	out := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "-_.")
}

// Stored is an invite as read, with the version it was read at.
type Stored struct {
	*Invite
	obj *corev1.Secret
}

// Get reads the invite id, refusing one whose seal does not match.
func (s Store) Get(ctx context.Context, key []byte, id string) (*Stored, error) {
	sec, err := s.Client.CoreV1().Secrets(s.Namespace).Get(ctx, objectName(id), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return s.open(key, sec)
}

// OpenSecret reads the invite an object holds (as a watch delivered it),
// refusing one whose seal does not match.
func OpenSecret(key []byte, sec *corev1.Secret) (*Stored, error) {
	return Store{}.open(key, sec)
}

// ObjectName is the name of the invite's object.
func (st *Stored) ObjectName() string { return objectName(st.ID) }

// Annotations are its object's annotations, which are not sealed.
func (st *Stored) Annotations() map[string]string { return st.obj.Annotations }

// SetObject takes its object as a write returned it.
func (st *Stored) SetObject(sec *corev1.Secret) { st.obj = sec }

func (s Store) open(key []byte, sec *corev1.Secret) (*Stored, error) {
	if sec.Labels[Label] != "true" || sec.Labels[labels.ManagedBy] != labels.Kubeaccess || sec.Type != SecretType {
		return nil, fmt.Errorf("Secret %s/%s is not an invitation", sec.Namespace, sec.Name)
	}
	inv, err := Open(key, sec.Data[dataKey], string(sec.Data[sealKey]))
	if err != nil {
		return nil, err
	}
	if objectName(inv.ID) != sec.Name {
		return nil, ErrTampered
	}
	return &Stored{Invite: inv, obj: sec}, nil
}

// ByToken finds the invite of a link's token. A token that names no
// invite, or not this one, is ErrUnknown.
func (s Store) ByToken(ctx context.Context, key []byte, token string) (*Stored, error) {
	if len(token) < 40 || len(token) > 64 {
		return nil, ErrUnknown
	}
	id := IDOf(HashToken(token))
	if s.Known != nil {
		if _, err := s.Known.Get(objectName(id)); apierrors.IsNotFound(err) {
			return nil, ErrUnknown
		}
	}
	// Read afresh: the view may lag a claim made a moment ago.
	st, err := s.Get(ctx, key, id)
	if apierrors.IsNotFound(err) {
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, err
	}
	if !st.Matches(token) {
		return nil, ErrUnknown
	}
	return st, nil
}

// ErrUnknown is a link that names no invite.
var ErrUnknown = fmt.Errorf("this invitation link is not valid: it names no invitation (it may have been mistyped, or deleted)")

// Watch starts a watch-fed view of the invitations (Known) and waits until
// it has read them all; it stops with ctx.
func (s *Store) Watch(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(s.Client, 0, informers.WithNamespace(s.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = Label + "=true" }))
	secrets := factory.Core().V1().Secrets()
	informer := secrets.Informer()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return fmt.Errorf("watching the invitations in namespace %s: %w", s.Namespace, context.Cause(ctx))
	}
	s.Known = secrets.Lister().Secrets(s.Namespace)
	return nil
}

// Update writes the invite back, sealed, only if it has not changed since
// it was read: of two concurrent updates one fails with a conflict.
func (s Store) Update(ctx context.Context, key []byte, st *Stored) error {
	sec, err := s.toSecret(key, st.Invite)
	if err != nil {
		return err
	}
	sec.ResourceVersion, sec.Annotations = st.obj.ResourceVersion, st.obj.Annotations
	got, err := s.Client.CoreV1().Secrets(s.Namespace).Update(ctx, sec, metav1.UpdateOptions{FieldManager: labels.Kubeaccess})
	if err != nil {
		return err
	}
	st.obj = got
	return nil
}

// List reads every invite, newest first; those whose seal does not match
// are returned apart, by object name, and so are invitations an older
// kubeaccess kept in ConfigMaps, which are no longer honoured.
func (s Store) List(ctx context.Context, key []byte) ([]*Stored, []string, error) {
	legacy, err := s.Client.CoreV1().ConfigMaps(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: Label + "=true"})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("reading the invitations in namespace %s: %w", s.Namespace, err)
	}
	list, err := s.Client.CoreV1().Secrets(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: Label + "=true"})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the invitations in namespace %s: %w", s.Namespace, err)
	}
	var (
		out      []*Stored
		tampered []string
	)
	if legacy != nil {
		for _, cm := range legacy.Items {
			tampered = append(tampered, "ConfigMap "+cm.Name+" (kept by an older kubeaccess where ConfigMap writers could roll it back; not honoured: delete it and invite again)")
		}
	}
	for i := range list.Items {
		st, err := s.open(key, &list.Items[i])
		if err != nil {
			tampered = append(tampered, list.Items[i].Name)
			continue
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *Stored) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, tampered, nil
}
