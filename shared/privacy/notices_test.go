package privacy_test

import (
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// The notices (denial, extension, completion) go through Deps.Notices — on AWS the SES
// configuration set that adds no bounce or complaint to the account-level suppression
// list, so the completion notice of an erasure cannot put the erased address back there
// — while the verification codes, which anyone can ask for any address, and the notices
// of requests never verified keep Mailer.
func TestNoticesGoThroughTheNoticeMailer(t *testing.T) {
	codes, notices := &privacytest.Mailer{}, &privacytest.Mailer{}
	clock := privacytest.NewClock(t0)
	svc, err := privacy.NewService(privacy.Deps{
		Store: &privacytest.Store{Now: clock.Now}, Mailer: codes, Notices: notices, Queue: &privacytest.Queue{}, Clock: clock, Key: key,
		Accounts: privacytest.Accounts{"jane.doe@example.com": {janeAccount}},
	})
	if err != nil {
		t.Fatal(err)
	}
	verified := func(typ privacy.Type) privacy.Request {
		t.Helper()
		filed, err := svc.File(ctx, privacy.FileInput{Email: janeEmail, Type: typ, Regulation: privacy.CCPA})
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := svc.Verify(ctx, filed.ID, codes.LastCode(janeEmail))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	erase := verified(privacy.TypeDelete)
	if _, err := svc.Approve(ctx, erase.ID, operator); err != nil {
		t.Fatal(err)
	}
	if done, err := svc.Run(ctx, erase.ID, []privacy.Executor{&exec{name: "accounts", items: 1}}); err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("run: %+v, %v", done, err)
	}
	denied := verified(privacy.TypeAccess)
	if out, err := svc.Deny(ctx, denied.ID, privacy.DenyNoMatch, "no integrator uses this address", operator); err != nil || !out.NoticeSent {
		t.Fatalf("deny: %+v, %v", out, err)
	}

	// A request never verified may carry any address anyone typed: its denial keeps the
	// account's suppression settings, which guard the sender against bouncing addresses.
	unverified, err := svc.File(ctx, privacy.FileInput{Email: strangerMail, Type: privacy.TypeDelete, Regulation: privacy.CCPA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deny(ctx, unverified.ID, privacy.DenyInsufficientVerification, "", operator); err != nil {
		t.Fatal(err)
	}
	if got := codes.Sent(); len(got) != 4 || got[3].To != strangerMail {
		t.Fatalf("the unverified request's denial did not keep the code mailer: %+v", got)
	}

	sent := notices.Sent()
	if len(sent) != 2 || sent[0].To != janeEmail || !strings.Contains(sent[0].Subject, "complete") || sent[1].To != janeEmail {
		t.Fatalf("notices %+v", sent)
	}
	for _, m := range codes.Sent()[:2] {
		if m.To != janeEmail || strings.Contains(m.Subject, "complete") {
			t.Fatalf("the code mailer sent %+v", m)
		}
	}
}
