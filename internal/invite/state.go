package invite

import (
	"context"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
)

// An invitation's life: open, then redeeming while a browser's request is
// issued, then used (or open again when it failed); revoked at any point
// before it is used. These are the only ways it changes, each written with
// the version read, so that of two concurrent changes one is read again
// (or, for a claim, loses).

// ErrClaimed is a claim that lost: another request is using the
// invitation right now.
var ErrClaimed = errors.New("this invitation is being used right now")

// ErrUsed is a revocation of an invitation whose credential was issued
// already: the credential is revoked instead.
var ErrUsed = errors.New("the invitation was already used")

// Claim marks an open invitation redeeming, for one request: of two
// concurrent claims one wins and the other gets ErrClaimed. An invitation
// that cannot be used now is refused with why.
func (s Store) Claim(ctx context.Context, key []byte, st *Stored) error {
	if st.State == StateRedeeming {
		return ErrClaimed
	}
	if why := st.Usable(time.Now()); why != "" {
		return errors.New(why)
	}
	st.State = StateRedeeming
	err := s.Update(ctx, key, st)
	if apierrors.IsConflict(err) {
		return ErrClaimed
	}
	return err
}

// Submitted records the very request a redemption made, so that an
// admin's approval applies to it alone.
func (s Store) Submitted(ctx context.Context, key []byte, st *Stored, req *certificatesv1.CertificateSigningRequest) error {
	id := IdentifyRequest(req)
	return s.change(ctx, key, st, func(i *Invite) {
		i.CSR, i.Request = req.Name, id
	})
}

// Redeemed marks the invitation used, by the credential recorded as
// record. One revoked while it was being redeemed stays revoked, and names
// the credential, so that it can be revoked too.
func (s Store) Redeemed(ctx context.Context, key []byte, st *Stored, record string) error {
	now := time.Now().UTC().Truncate(time.Second)
	return s.change(ctx, key, st, func(i *Invite) {
		i.Record, i.UsedAt = record, &now
		if i.State != StateRevoked {
			i.State = StateUsed
		}
	})
}

// Reopen makes an invitation whose redemption failed open again, for the
// next try; one revoked meanwhile stays revoked.
func (s Store) Reopen(ctx context.Context, key []byte, st *Stored) error {
	return s.change(ctx, key, st, func(i *Invite) {
		i.CSR, i.Request = "", nil
		if i.State != StateRevoked {
			i.State = StateOpen
		}
	})
}

// Revoke ends the invitation id: its link stops working. One already used
// is ErrUsed, returned with the invitation, whose Record names the
// credential to revoke instead.
func (s Store) Revoke(ctx context.Context, key []byte, id string) (*Stored, error) {
	st, err := s.Get(ctx, key, id)
	if err != nil {
		return nil, err
	}
	if st.State == StateUsed {
		return st, ErrUsed
	}
	now := time.Now().UTC().Truncate(time.Second)
	err = s.change(ctx, key, st, func(i *Invite) {
		if i.State != StateUsed {
			i.State, i.Revoked = StateRevoked, &now
		}
	})
	if err != nil {
		return st, err
	}
	if st.State == StateUsed {
		// Redeemed between the read and the write.
		return st, ErrUsed
	}
	return st, nil
}

// change applies change to the invitation and writes it back, reading it
// again and reapplying change on a conflict.
func (s Store) change(ctx context.Context, key []byte, st *Stored, change func(*Invite)) error {
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			fresh, err := s.Get(ctx, key, st.ID)
			if err != nil {
				return err
			}
			*st = *fresh
		}
		first = false
		change(st.Invite)
		return s.Update(ctx, key, st)
	})
	if err != nil {
		return fmt.Errorf("invitation %s: %w", st.ID, err)
	}
	return nil
}
