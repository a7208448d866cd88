package privacy_test

import (
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/accessibility/accessibilitytest"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/verify/verifytest"
)

// A person who signed up for text questions holds no integrator or customer account:
// their request still matches (Holds), a delete removes every accessibility record of the
// address and the token stops working, and an access request lists the records.

const readerMail = "Reader@Example.org"

type a11yWorld struct {
	*world
	a11y    *accessibility.Service
	store   *accessibilitytest.Store
	mem     *accessibilitytest.Memory
	mailbox *accessibilitytest.Mailbox
}

func newA11yWorld(t *testing.T) *a11yWorld {
	t.Helper()
	w := &a11yWorld{world: newWorld(t, 2), mailbox: &accessibilitytest.Mailbox{}}
	w.store, w.mem = accessibilitytest.NewStore()
	w.mem.Now = w.clock.Now
	w.deps.Accessibility = w.store
	svc, err := privacy.NewService(privacy.Deps{
		Store: w.fixture.store, Mailer: w.mail, Queue: w.queue, Clock: w.clock, Key: key, Accounts: w.h, Subjects: w.store,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	chals, _ := accessibilitytest.NewChallenges()
	w.a11y, err = accessibility.New(accessibility.Deps{
		Store: w.store, Challenges: chals, Mailer: accessibilitytest.NewMailer(w.mailbox), Sites: challengetest.NewSites(),
		Signer: challengetest.Signer(), Tokens: &verifytest.Tokens{}, Visual: challengetest.NewStore(), Risk: &challengetest.Risk{}, Key: key, BaseURL: "https://cg.example", Now: w.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// enrol signs email up and confirms the link: a token, plus a second pending sign-up.
func (w *a11yWorld) enrol(t *testing.T, email string) string {
	t.Helper()
	var codes []string
	for range 2 {
		if err := w.a11y.SignUp(ctx, accessibility.SignUpInput{Email: email, Network: net.ParseIP("198.51.100.4")}); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, w.mailbox.ConfirmCode(email))
	}
	tok, _, err := w.a11y.Confirm(ctx, codes[0])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDeleteRemovesEveryAccessibilityRecordOfTheAddress(t *testing.T) {
	for _, typ := range []privacy.Type{privacy.TypeDelete, privacy.TypeChildDelete, privacy.TypeWithdrawConsent} {
		t.Run(string(typ), func(t *testing.T) {
			w := newA11yWorld(t)
			tok := w.enrol(t, readerMail)
			other := w.enrol(t, "someone.else@example.net")
			reader := privacy.SubjectHash(key, strings.ToLower(readerMail))
			if !slices.Contains(w.mem.Subjects(), reader) {
				t.Fatal("the sign-up is not stored under the privacy subject hash")
			}

			r, _ := w.verified(t, strings.ToLower(readerMail), typ)
			if len(r.AccountIDs) != 0 || !slices.Equal(r.Holds, []string{privacy.HoldAccessibility}) {
				t.Fatalf("request matched accounts %v, holds %v; want no account and the accessibility records", r.AccountIDs, r.Holds)
			}
			done := w.approveAndRun(t, r.ID)
			if done.Status != privacy.StatusCompleted {
				t.Fatalf("status %s", done.Status)
			}
			got := privacy.ReportOf(done)[privacy.ExecAccessibility]
			want := map[string]int{privacy.KindAccessibilityToken: 1, privacy.KindAccessibilitySignup: 1, privacy.KindAccessibilityRateLimit: 1}
			if !mapsEqual(got, want) {
				t.Fatalf("erasure report %v, want %v", got, want)
			}
			if slices.Contains(w.mem.Subjects(), reader) {
				t.Fatal("records of the address are left")
			}
			if _, err := w.a11y.Authenticate(ctx, tok); !errors.Is(err, accessibility.ErrTokenRequired) {
				t.Fatalf("the token still works after the erasure: %v", err)
			}
			if _, err := w.a11y.Authenticate(ctx, other); err != nil {
				t.Fatalf("someone else's token stopped working: %v", err)
			}
			// A second run (redelivery) finds nothing and fails nothing.
			if _, err := w.run(r.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAccessListsAccessibilityRecordsWithoutHashes(t *testing.T) {
	w := newA11yWorld(t)
	tok := w.enrol(t, readerMail)
	r, _ := w.verified(t, readerMail, privacy.TypeAccess)
	if !slices.Equal(r.Holds, []string{privacy.HoldAccessibility}) {
		t.Fatalf("holds %v", r.Holds)
	}
	w.approveAndRun(t, r.ID)
	raw, ok := w.files.Object(privacy.PackageKey(r.ID, privacy.PackageJSON))
	if !ok {
		t.Fatalf("no package; files %v", w.files.Keys(""))
	}
	var p struct {
		Records []privacy.Record `json:"records"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, rec := range p.Records {
		if !strings.HasPrefix(rec.Kind, "accessibility_") {
			continue
		}
		kinds[rec.Kind]++
		if rec.Fields["created_at"] == "" || rec.Fields["expires_at"] == "" || len(rec.Fields) != 2 {
			t.Errorf("record %+v: want exactly created_at and expires_at", rec)
		}
	}
	want := map[string]int{privacy.KindAccessibilityToken: 1, privacy.KindAccessibilitySignup: 1, privacy.KindAccessibilityRateLimit: 1}
	if !mapsEqual(kinds, want) {
		t.Fatalf("accessibility records in the package %v, want %v", kinds, want)
	}
	recs, _ := w.store.AccessibilityOf(ctx, r.SubjectHash)
	for _, secret := range append([]string{tok, accessibility.TokenHash(tok), r.SubjectHash}, keysOf(recs)...) {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the package holds a token, hash or key: %.12s…", secret)
		}
	}
	// Access changes nothing: the token still works.
	if _, err := w.a11y.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
}

func TestRequestOfAnAddressWithNothingHeldHoldsNothing(t *testing.T) {
	w := newA11yWorld(t)
	r, _ := w.verified(t, "nobody@example.org", privacy.TypeDelete)
	if len(r.AccountIDs) != 0 || len(r.Holds) != 0 {
		t.Fatalf("matched %v %v", r.AccountIDs, r.Holds)
	}
}

func keysOf(recs []privacy.AccessibilityRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(r.Key, "SIGNUP#"), "TOKEN#"), "RL#MAIL#"))
	}
	return out
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
