package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubeaccess/kubeaccess/internal/invite"
	kalabels "github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/team"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// A TeamAccess with spec.invitations has each user still without a
// credential invited: an invitation as kubeaccess invite makes, for the
// team (the portal issues the certificate to the key the user's browser
// makes and records it as the team's; the team's reconcile then binds the
// member), made on the TeamAccess's author's behalf. Its link goes to the
// Secret or webhook the resource names, never to a log or an Event.
//
// Nothing is issued twice: a member's invitation is named by a token
// derived from the TeamAccess's UID, the member and a serial
// (invite.TeamToken), so a replica that makes it again, after a failover
// or on a view a moment old, makes the very same one; the serial moves on
// only when the last one can no longer be used. An open invitation whose
// member left the team, got a credential another way, or changed (groups,
// namespace, lifetime, access, until) is revoked, and a changed member is
// invited anew.

// sentAnnotation marks an invitation whose link was posted to the team's
// webhook, so that it is posted once.
const sentAnnotation = "kubeaccess.io/posted"

// InvitePermission is what a TeamAccess's author must hold for kubeaccess
// to invite its users: minting certificates for names the author chooses
// is more than binding access, so a cluster admin grants it on its own.
var InvitePermission = verify.Permission{Verb: "invite", Group: "kubeaccess.io", Resource: "teamaccesses"}

// invited is what a team's invitations came to in one reconcile.
type invited struct {
	open []openInvitation
	// sent are the users whose link went somewhere new; secret names the
	// links Secret once it holds every open link.
	sent    []string
	secret  string
	revoked []string
	// reason and err say why pending users were not all invited.
	reason string
	err    error
}

// openInvitation is an open invitation as the status shows it: never its
// link.
type openInvitation struct {
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expiresAt"`
	SentTo    string    `json:"sentTo,omitempty"`
}

// teamInvitations are the invitations kept for team, as the watch holds
// them, opened with key; those whose seal does not match are left out and
// logged.
func (c *Controller) teamInvitations(name string, key []byte) []*invite.Stored {
	secrets, err := byIndex[*corev1.Secret](c.invitationIndex, name)
	if err != nil {
		c.Logf("team %s: reading its invitations: %v", name, err)
		return nil
	}
	var out []*invite.Stored
	for _, sec := range secrets {
		st, err := invite.OpenSecret(key, sec)
		if err != nil || st.Team != name {
			c.Logf("team %s: ignoring invitation %s/%s: not a sealed invitation of this team", name, sec.Namespace, sec.Name)
			continue
		}
		out = append(out, st)
	}
	return out
}

// inviteMembers keeps the team's invitations: one open invitation for each
// pending user, sent where spec.invitations says, and none for anyone else.
func (c *Controller) inviteMembers(ctx context.Context, u *unstructured.Unstructured, plan *team.InCluster, author *authenticationv1.UserInfo, authority *privilege.Authority) invited {
	name, uid := u.GetName(), string(u.GetUID())
	spec := plan.Resolved.File.Spec.Invitations
	if c.invitationIndex == nil {
		if spec != nil {
			return invited{reason: "NoPortal", err: errors.New("kubeaccess controller was started without --portal-url, so it invites no one: start it with the URL where kubeaccess serve is reached")}
		}
		return invited{}
	}
	if spec == nil {
		if secrets, _ := byIndex[*corev1.Secret](c.invitationIndex, name); len(secrets) == 0 {
			return invited{}
		}
	}
	store := invite.Store{Client: c.Client, Namespace: c.RecordsNamespace}
	key, err := store.Key(ctx, spec != nil)
	if err != nil {
		return invited{reason: "InvitationKey", err: err}
	}
	now := time.Now()
	// The invitation each pending user is due, when the team asks.
	due := map[string]*invite.Invite{}
	if spec != nil {
		for _, m := range plan.PendingUsers() {
			due[m.Name] = c.teamInvite(name, uid, m, author, spec, plan.Resolved.File.Spec.Renewing, now)
		}
	}
	// The newest invitation of each member of this TeamAccess object;
	// what else is open (an older object's, an older serial's) is revoked.
	latest := map[string]*invite.Stored{}
	var out invited
	stale := func(st *invite.Stored) {
		if ended, err := revokeOpen(ctx, store, key, st); err != nil {
			out.err = errors.Join(out.err, err)
		} else if ended {
			out.revoked = append(out.revoked, st.User)
		}
	}
	all := c.teamInvitations(name, key)
	for _, st := range all {
		if st.TeamUID == uid && (latest[st.User] == nil || st.Serial > latest[st.User].Serial) {
			latest[st.User] = st
		}
	}
	for _, st := range all {
		if want, ok := due[st.User]; st != latest[st.User] || !ok || !sameMember(st.Invite, want) {
			stale(st)
		}
	}
	if spec == nil {
		return out
	}
	needs := []verify.Permission{InvitePermission}
	if s := spec.Secret; s != nil {
		needs = append(needs, verify.Permission{Verb: "create", Resource: "secrets", Namespace: s.Namespace, Name: s.Name},
			verify.Permission{Verb: "update", Resource: "secrets", Namespace: s.Namespace, Name: s.Name})
	}
	if err := authority.Check(ctx, needs, nil); err != nil {
		out.reason, out.err = "Unauthorized", err
		return out
	}
	if w := spec.Webhook; w != nil && !c.webhookAllowed(w.URL) {
		out.reason, out.err = "WebhookNotAllowed", fmt.Errorf("kubeaccess controller posts links only to URLs its --invitation-webhook-allow lists, and %s is not one of them", w.URL)
		return out
	}
	var open []*invite.Stored
	for _, user := range slices.Sorted(maps.Keys(due)) {
		want, st := due[user], latest[user]
		switch {
		case st != nil && st.State == invite.StateRedeeming:
			// Being used right now: the record comes next.
			continue
		case st != nil && st.State == invite.StateUsed && !c.recordSeen(st.Record) && st.UsedAt != nil && now.Sub(*st.UsedAt) < recordLag:
			// Used, and its credential recorded, but the record has not
			// reached this view yet (records and invitations are watched
			// apart): its arrival looks at the team again. A record that
			// never comes (deleted) is waited for no longer than recordLag.
			continue
		case st != nil && st.State == invite.StateOpen && st.Usable(now) == "" && sameMember(st.Invite, want):
			open = append(open, st)
			continue
		case st != nil:
			want.Serial = st.Serial + 1
		}
		made, err := c.createTeamInvite(ctx, store, key, want)
		if err != nil {
			out.reason, out.err = "InvitationFailed", errors.Join(out.err, err)
			continue
		}
		open = append(open, made)
	}
	if err := c.deliver(ctx, u, spec, key, open, &out); err != nil {
		out.reason, out.err = "DeliveryFailed", errors.Join(out.err, err)
	}
	for _, st := range open {
		var to []string
		if out.secret != "" {
			to = append(to, out.secret)
		}
		if st.Annotations()[sentAnnotation] != "" {
			to = append(to, "webhook")
		}
		out.open = append(out.open, openInvitation{User: st.User, ExpiresAt: st.ExpiresAt, SentTo: strings.Join(to, ", ")})
	}
	if out.err != nil && out.reason == "" {
		out.reason = "InvitationFailed"
	}
	return out
}

// revokeInvitations revokes every open invitation of a deleted team (its
// links Secret goes with the TeamAccess, which owns it).
func (c *Controller) revokeInvitations(ctx context.Context, name string) ([]string, error) {
	if c.invitationIndex == nil {
		return nil, nil
	}
	if secrets, _ := byIndex[*corev1.Secret](c.invitationIndex, name); len(secrets) == 0 {
		return nil, nil
	}
	store := invite.Store{Client: c.Client, Namespace: c.RecordsNamespace}
	key, err := store.Key(ctx, false)
	if err != nil {
		return nil, err
	}
	var revoked []string
	for _, st := range c.teamInvitations(name, key) {
		ended, err := revokeOpen(ctx, store, key, st)
		if err != nil {
			return revoked, err
		}
		if ended {
			revoked = append(revoked, st.User)
		}
	}
	return revoked, nil
}

// revokeOpen revokes st if it is open, and says whether it did; one used
// meanwhile is left as it is (its credential's record is the team's).
func revokeOpen(ctx context.Context, store invite.Store, key []byte, st *invite.Stored) (bool, error) {
	if st.State != invite.StateOpen {
		return false, nil
	}
	if _, err := store.Revoke(ctx, key, st.ID); err != nil && !errors.Is(err, invite.ErrUsed) {
		return false, fmt.Errorf("revoking invitation %s of %s: %w", st.ID, st.User, err)
	}
	return true, nil
}

// teamInvite is the invitation member m of a team is due now, serial 1:
// the team's, on its author's behalf, with what the team's bindings give
// the member; its link works for spec's expiry.
func (c *Controller) teamInvite(name, uid string, m team.Member, author *authenticationv1.UserInfo, spec *team.Invitations, renewing *team.Renewing,
	now time.Time) *invite.Invite {
	created := now.UTC().Truncate(time.Second)
	inv := &invite.Invite{
		User: m.Name, Groups: m.Groups, Namespace: m.Namespace, TTL: m.LifetimeAt(now).String(), Approval: invite.ApprovalAuto,
		CreatedBy: author.Username, Creator: author, CreatedAt: created, ExpiresAt: created.Add(spec.InvitationExpiry()),
		State: invite.StateOpen, Team: name, TeamUID: uid, Serial: 1, Grants: m.Grants,
	}
	if !m.Until.IsZero() {
		until := m.Until.UTC()
		inv.Until = &until
		inv.TTL = m.Lifetime.String()
	}
	if renewing != nil {
		inv.Renewing = renewing.Kubeconfig(inv.TTL)
	}
	return inv
}

// sameMember says whether an invitation made before is still for the
// member as want describes them: the same subject, namespace, lifetime,
// access and end. (Its lifetime is compared as written: a member with an
// until: is compared by the until.)
func sameMember(have, want *invite.Invite) bool {
	return have.User == want.User && slices.Equal(have.Groups, want.Groups) && have.Namespace == want.Namespace &&
		have.TTL == want.TTL && reflect.DeepEqual(have.Until, want.Until) && sameGrants(have.Grants, want.Grants)
}

// sameGrants compares grants as sealed: as JSON.
func sameGrants(a, b []privilege.Grant) bool {
	x, errX := json.Marshal(a)
	y, errY := json.Marshal(b)
	return errX == nil && errY == nil && bytes.Equal(x, y)
}

// createTeamInvite stores inv under its derived token; one stored already
// (by this replica a moment ago, or by the one before a failover) is that
// very invitation, read back.
func (c *Controller) createTeamInvite(ctx context.Context, store invite.Store, key []byte, inv *invite.Invite) (*invite.Stored, error) {
	inv.TokenHash = invite.HashToken(invite.TeamToken(key, inv.TeamUID, inv.User, inv.Serial))
	inv.ID = invite.IDOf(inv.TokenHash)
	st, err := store.Create(ctx, key, inv)
	if err == nil {
		return st, nil
	} else if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("inviting %s: %w", inv.User, err)
	}
	st, err = store.Get(ctx, key, inv.ID)
	if err != nil {
		return nil, fmt.Errorf("inviting %s: reading the invitation back: %w", inv.User, err)
	}
	if st.Team != inv.Team || st.TeamUID != inv.TeamUID || st.User != inv.User {
		return nil, fmt.Errorf("inviting %s: invitation %s is someone else's", inv.User, inv.ID)
	}
	return st, nil
}

// recordLag bounds the wait for a used invitation's record to be seen.
const recordLag = 5 * time.Minute

// recordSeen says whether the watched records hold the record id.
func (c *Controller) recordSeen(id string) bool {
	if id == "" || c.records == nil {
		return true
	}
	_, err := c.records.Get(records.ObjectName(id))
	return !apierrors.IsNotFound(err)
}

// link is an invitation's link, derived again from its token.
func (c *Controller) link(key []byte, st *invite.Stored) string {
	return strings.TrimSuffix(c.PortalURL, "/") + "/i/" + invite.TeamToken(key, st.TeamUID, st.User, st.Serial)
}

// deliver sends the links of the open invitations where spec says: the
// Secret holds exactly the open ones' links, and the webhook is posted
// each link once. Where each went is marked on its invitation.
func (c *Controller) deliver(ctx context.Context, u *unstructured.Unstructured, spec *team.Invitations, key []byte, open []*invite.Stored, out *invited) error {
	var errs []error
	if s := spec.Secret; s != nil {
		// The Secret is brought to the open links at every reconcile, so
		// needs no mark of what it holds.
		if err := c.writeLinks(ctx, u, s, key, open, out); err != nil {
			errs = append(errs, err)
		} else {
			out.secret = "secret " + s.Namespace + "/" + s.Name
		}
	}
	if w := spec.Webhook; w != nil {
		for _, st := range open {
			if st.Annotations()[sentAnnotation] != "" {
				continue
			}
			if err := c.post(ctx, w.URL, u.GetName(), st, c.link(key, st)); err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, c.markPosted(ctx, st, out))
		}
	}
	return errors.Join(errs...)
}

// markPosted marks an invitation posted to the webhook.
func (c *Controller) markPosted(ctx context.Context, st *invite.Stored, out *invited) error {
	if !slices.Contains(out.sent, st.User) {
		out.sent = append(out.sent, st.User)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{sentAnnotation: now}}})
	if err != nil {
		return err
	}
	got, err := c.Client.CoreV1().Secrets(c.RecordsNamespace).Patch(ctx, st.ObjectName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kalabels.Kubeaccess})
	if err != nil {
		return fmt.Errorf("marking invitation %s posted: %w", st.ID, err)
	}
	st.SetObject(got)
	return nil
}

// LinksClusterRole is the ClusterRole (deploy/controller.yaml) that an
// admin binds to the controller in a namespace where teams may have
// their links written.
const LinksClusterRole = "kubeaccess-controller-invitation-links"

// writeLinks brings the team's links Secret to exactly the open
// invitations' links, one key per user. It writes only a Secret it made
// for this very TeamAccess (labelled with the team, owned by its UID, so
// that it goes with the TeamAccess), never anyone else's.
func (c *Controller) writeLinks(ctx context.Context, u *unstructured.Unstructured, ref *team.SecretRef, key []byte, open []*invite.Stored, out *invited) error {
	want := map[string][]byte{}
	for _, st := range open {
		want[linkKey(st.User)] = []byte(c.link(key, st))
	}
	// Who is new in the Secret, for the Event.
	added := func(had map[string][]byte) {
		for _, st := range open {
			if _, ok := had[linkKey(st.User)]; !ok && !slices.Contains(out.sent, st.User) {
				out.sent = append(out.sent, st.User)
			}
		}
	}
	secrets := c.Client.CoreV1().Secrets(ref.Namespace)
	where := fmt.Sprintf("the links Secret %s/%s", ref.Namespace, ref.Name)
	forbidden := func(err error) error {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("%s: the controller may not write Secrets there; an admin grants it with: kubectl create rolebinding kubeaccess-invitation-links -n %s --clusterrole %s --serviceaccount %s:kubeaccess-controller",
				where, ref.Namespace, LinksClusterRole, c.RecordsNamespace)
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	sec, err := secrets.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l := kalabels.Managed()
		l[kalabels.Team] = u.GetName()
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: ref.Namespace, Labels: l, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: TeamAccessGVR.GroupVersion().String(), Kind: "TeamAccess", Name: u.GetName(), UID: u.GetUID()}}},
			Type: corev1.SecretTypeOpaque, Data: want,
		}
		if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{FieldManager: kalabels.Kubeaccess}); err != nil {
			return forbidden(err)
		}
		added(nil)
		return nil
	} else if err != nil {
		return forbidden(err)
	}
	if sec.Labels[kalabels.Team] != u.GetName() || !slices.ContainsFunc(sec.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == u.GetUID() }) {
		return fmt.Errorf("%s exists and is not this TeamAccess's: kubeaccess writes links only to a Secret it made for it; name another Secret, or delete that one", where)
	}
	if maps.EqualFunc(sec.Data, want, bytes.Equal) {
		return nil
	}
	had := sec.Data
	sec.Data = want
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: kalabels.Kubeaccess}); err != nil {
		return forbidden(err)
	}
	added(had)
	return nil
}

// linkKey is a user's key in the links Secret: the user name when it is a
// valid key, else a readable form of it with a hash, so that two users
// never share one.
func linkKey(user string) string {
	if len(validation.IsConfigMapKey(user)) == 0 {
		return user
	}
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, user)
	sum := sha256.Sum256([]byte(user))
	return fmt.Sprintf("%.200s-%s", clean, hex.EncodeToString(sum[:4]))
}

// notice is what the webhook is posted for one invitation: text reads in
// a chat (Slack, Mattermost and Teams take it as it is), the rest is for
// tools.
type notice struct {
	Text      string    `json:"text"`
	Team      string    `json:"team"`
	User      string    `json:"user"`
	Link      string    `json:"link"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// post sends one invitation's notice to the webhook.
func (c *Controller) post(ctx context.Context, target, teamName string, st *invite.Stored, link string) error {
	body, err := json.Marshal(notice{
		Text: fmt.Sprintf("%s, you are invited to team %s's Kubernetes access. Open this link (it works once, until %s); your browser makes your key: %s",
			st.User, teamName, st.ExpiresAt.Format(time.RFC1123), link),
		Team: teamName, User: st.User, Link: link, ExpiresAt: st.ExpiresAt,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL may hold a secret (a chat's webhook token): say where
		// only by host.
		return fmt.Errorf("posting %s's invitation to the webhook at %s: %v", st.User, hostOf(target), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("posting %s's invitation to the webhook at %s: %s", st.User, hostOf(target), resp.Status)
	}
	return nil
}

func hostOf(target string) string {
	if u, err := url.Parse(target); err == nil {
		return u.Host
	}
	return "(not a URL)"
}

// webhookAllowed says whether target is under one of the URL prefixes the
// controller was allowed to post to: the same scheme and host, and a path
// below the prefix's. The cluster's admin says where links may go; a
// TeamAccess's author picks among those.
func (c *Controller) webhookAllowed(target string) bool {
	t, err := url.Parse(target)
	if err != nil || t.User != nil {
		return false
	}
	for _, prefix := range c.WebhookAllow {
		p, err := url.Parse(prefix)
		if err == nil && p.Scheme == t.Scheme && p.Host == t.Host && strings.HasPrefix(t.EscapedPath(), p.EscapedPath()) {
			return true
		}
	}
	return false
}
