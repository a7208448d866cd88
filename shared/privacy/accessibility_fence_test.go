package privacy_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// An erasure's accessibility step finds the subject's records through gsi1, which lists a
// record only a moment after its write, while the person may be confirming a sign-up at
// that very moment. The step fences the subject first, so no token of it made before the
// step, listed or not, works afterwards, and none is made while the step runs.

// erasing files and approves a delete request of readerMail.
func (w *a11yWorld) erasing(t *testing.T) privacy.Request {
	t.Helper()
	r, _ := w.verified(t, strings.ToLower(readerMail), privacy.TypeDelete)
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	return r
}

func (w *a11yWorld) finish(t *testing.T, id string) {
	t.Helper()
	for range 50 {
		done, err := w.run(id)
		if err != nil {
			t.Fatal(err)
		}
		if done.Status == privacy.StatusCompleted {
			return
		}
	}
	t.Fatal("the erasure did not complete")
}

func TestATokenConfirmedJustBeforeTheErasureListsStopsWorking(t *testing.T) {
	w := newA11yWorld(t)
	tok := w.enrol(t, readerMail)
	pending := w.mailbox.ConfirmCode(readerMail) // enrol's second sign-up, not confirmed
	other := w.enrol(t, "someone.else@example.net")
	r := w.erasing(t)

	// The link is confirmed just as the step starts, and gsi1 has not caught up with
	// the new token when the step lists the records.
	var raced string
	fence, list := w.store.FenceAccessibilityFunc, w.store.AccessibilityOfFunc
	w.store.FenceAccessibilityFunc = func(ctx context.Context, subject string, now time.Time) error {
		if raced == "" {
			tok, _, err := w.a11y.Confirm(ctx, pending)
			if err != nil {
				t.Errorf("confirming before the fence: %v", err)
			}
			raced = tok
		}
		return fence(ctx, subject, now)
	}
	w.store.AccessibilityOfFunc = func(ctx context.Context, subject string) ([]privacy.AccessibilityRecord, error) {
		recs, err := list(ctx, subject)
		return slices.DeleteFunc(recs, func(r privacy.AccessibilityRecord) bool {
			return raced != "" && r.Key == "TOKEN#"+accessibility.TokenHash(raced)
		}), err
	}
	w.finish(t, r.ID)

	if raced == "" {
		t.Fatal("the accessibility step never fenced")
	}
	for name, tok := range map[string]string{"listed": tok, "confirmed in the race": raced} {
		if _, err := w.a11y.Authenticate(ctx, tok); !errors.Is(err, accessibility.ErrTokenRequired) {
			t.Errorf("the %s token still works after the erasure: %v", name, err)
		}
	}
	if _, err := w.a11y.Authenticate(ctx, other); err != nil {
		t.Fatalf("someone else's token stopped working: %v", err)
	}
}

func TestAConfirmWhileTheErasureRunsIsRefused(t *testing.T) {
	w := newA11yWorld(t)
	w.enrol(t, readerMail)
	pending := w.mailbox.ConfirmCode(readerMail)
	r := w.erasing(t)

	// The link is confirmed after the fence is up, while the step lists and deletes.
	confirmed := false
	list := w.store.AccessibilityOfFunc
	w.store.AccessibilityOfFunc = func(ctx context.Context, subject string) ([]privacy.AccessibilityRecord, error) {
		if !confirmed {
			confirmed = true
			if tok, _, err := w.a11y.Confirm(ctx, pending); !errors.Is(err, accessibility.ErrInvalidCode) {
				t.Errorf("Confirm during the erasure = %.8q, %v; want ErrInvalidCode", tok, err)
			}
		}
		return list(ctx, subject)
	}
	w.finish(t, r.ID)
	if !confirmed {
		t.Fatal("the accessibility step never listed")
	}
	if slices.Contains(w.mem.Subjects(), r.SubjectHash) {
		t.Fatal("a record of the address outlived the erasure")
	}

	// The fence ends with the lifetime of any token made before it: the address may then
	// sign up afresh.
	w.clock.Add(accessibility.FenceTTL)
	if err := w.a11y.SignUp(ctx, accessibility.SignUpInput{Email: readerMail, Network: net.ParseIP("198.51.100.4")}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := w.a11y.Confirm(ctx, w.mailbox.ConfirmCode(readerMail))
	if err != nil {
		t.Fatalf("Confirm once the fence expired: %v", err)
	}
	if _, err := w.a11y.Authenticate(ctx, tok); err != nil {
		t.Fatalf("a token made after the fence: %v", err)
	}
}
