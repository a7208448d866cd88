package privacy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

var (
	t0       = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC) // a Monday
	key      = bytes.Repeat([]byte{7}, 32)
	operator = privacy.Actor{Kind: privacy.ActorOperator, ID: "arn:aws:sts::123456789012:assumed-role/compliance/jane"}
)

const (
	janeEmail    = "Jane.Doe@Example.COM"
	janeAccount  = "7d2c1f0e-4b3a-4c5d-8e9f-0a1b2c3d4e5f"
	strangerMail = "nobody@example.org"
)

type fixture struct {
	svc   *privacy.Service
	store *privacytest.Store
	mail  *privacytest.Mailer
	queue *privacytest.Queue
	clock *privacytest.Clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{mail: &privacytest.Mailer{}, queue: &privacytest.Queue{}, clock: privacytest.NewClock(t0)}
	f.store = &privacytest.Store{Now: f.clock.Now}
	svc, err := privacy.NewService(privacy.Deps{
		Store: f.store, Mailer: f.mail, Queue: f.queue, Clock: f.clock, Key: key,
		Accounts: privacytest.Accounts{"jane.doe@example.com": {janeAccount}},
		Filings:  &privacytest.Filings{},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

var ctx = context.Background()

func (f *fixture) file(t *testing.T, email string, typ privacy.Type) privacy.Filed {
	t.Helper()
	filed, err := f.svc.File(ctx, privacy.FileInput{Email: email, Type: typ, Regulation: privacy.CCPA})
	if err != nil {
		t.Fatalf("File: %v", err)
	}
	return filed
}

// verified files and verifies a request and returns it with its status secret.
func (f *fixture) verified(t *testing.T, email string, typ privacy.Type) (privacy.Request, string) {
	t.Helper()
	filed := f.file(t, email, typ)
	r, secret, err := f.svc.Verify(ctx, filed.ID, f.mail.LastCode(strings.TrimSpace(email)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r, secret
}

func (f *fixture) get(t *testing.T, id string) privacy.Request {
	t.Helper()
	r, _, err := f.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) actions(t *testing.T, id string) []privacy.Action {
	t.Helper()
	_, log, err := f.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []privacy.Action
	for _, e := range log {
		out = append(out, e.Action)
	}
	return out
}

func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestFileSendsACodeAndRecordsTheRequest(t *testing.T) {
	f := newFixture(t)
	filed := f.file(t, "  "+janeEmail+" ", privacy.TypeAccess)
	if !privacy.IsRequestID(filed.ID) || filed.Duplicate || !filed.CodeExpiresAt.After(t0.Add(9*time.Minute)) || filed.CodeExpiresAt.After(t0.Add(11*time.Minute)) {
		t.Fatalf("filed %+v", filed)
	}
	sent := f.mail.Sent()
	if len(sent) != 1 || sent[0].To != janeEmail || !strings.Contains(sent[0].Text, filed.ID) || f.mail.LastCode(janeEmail) == "" {
		t.Fatalf("mail %+v", sent)
	}
	r := f.get(t, filed.ID)
	if r.Status != privacy.StatusReceived || r.Email != janeEmail || len(r.AccountIDs) != 1 || r.AccountIDs[0] != janeAccount ||
		r.Deadlines.Ack.String() != "2026-12-14" || r.Deadlines.Response.String() != "2027-01-14" || r.AckedAt.IsZero() {
		t.Fatalf("stored %+v", r)
	}
	if r.SubjectHash != privacy.SubjectHash(key, "jane.doe@example.com") || strings.Contains(strings.ToLower(r.SubjectHash), "jane") {
		t.Fatalf("subject hash %q", r.SubjectHash)
	}
	if got := f.actions(t, filed.ID); fmt.Sprint(got) != "[filed code_sent]" {
		t.Fatalf("audit %v", got)
	}
}

func TestFileRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("x", privacy.MaxDetailsRunes+1)
	for _, c := range []struct {
		in    privacy.FileInput
		field string
	}{
		{privacy.FileInput{Email: "", Type: privacy.TypeAccess, Regulation: privacy.CCPA}, "email"},
		{privacy.FileInput{Email: "Jane <jane@example.com>", Type: privacy.TypeAccess, Regulation: privacy.CCPA}, "email"},
		{privacy.FileInput{Email: "jane@localhost", Type: privacy.TypeAccess, Regulation: privacy.CCPA}, "email"},
		{privacy.FileInput{Email: strings.Repeat("a", 250) + "@example.com", Type: privacy.TypeAccess, Regulation: privacy.CCPA}, "email"},
		{privacy.FileInput{Email: janeEmail, Type: "erase", Regulation: privacy.CCPA}, "type"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeAccess, Regulation: "lgpd"}, "regulation"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeAccess, Regulation: privacy.CCPA, Details: long}, "details"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeAccess, Regulation: privacy.CCPA, Details: "bell\a"}, "details"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeAccess, Regulation: privacy.CCPA, Corrections: []privacy.Correction{{Field: "name", Value: "x"}}}, "corrections"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeCorrect, Regulation: privacy.CCPA}, "corrections"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeCorrect, Regulation: privacy.CCPA, Corrections: []privacy.Correction{{Field: "password", Value: "x"}}}, "corrections"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeCorrect, Regulation: privacy.CCPA, Corrections: []privacy.Correction{{Field: "name", Value: "a"}, {Field: "name", Value: "b"}}}, "corrections"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeCorrect, Regulation: privacy.CCPA, Corrections: []privacy.Correction{{Field: "name", Value: "  "}}}, "corrections"},
		{privacy.FileInput{Email: janeEmail, Type: privacy.TypeCorrect, Regulation: privacy.CCPA, Corrections: []privacy.Correction{{Field: "name", Value: "two\nlines"}}}, "corrections"},
	} {
		_, err := f.svc.File(ctx, c.in)
		var v *privacy.ValidationError
		if !errors.As(err, &v) || v.Field != c.field {
			t.Errorf("%+v: %v, want invalid %s", c.in, err, c.field)
		}
	}
	if n := len(f.mail.Sent()); n != 0 {
		t.Fatalf("%d mails sent for refused requests", n)
	}
	// A valid correct request.
	if _, err := f.svc.File(ctx, privacy.FileInput{Email: janeEmail, Type: privacy.TypeCorrect, Regulation: privacy.GDPR,
		Corrections: []privacy.Correction{{Field: "name", Value: "Jane Q. Doe"}, {Field: "country", Value: "FR"}}}); err != nil {
		t.Fatalf("valid correct request: %v", err)
	}
}

func TestVerify(t *testing.T) {
	t.Run("the right code verifies once and hands out the status secret", func(t *testing.T) {
		f := newFixture(t)
		filed := f.file(t, janeEmail, privacy.TypeDelete)
		code := f.mail.LastCode(janeEmail)
		r, secret, err := f.svc.Verify(ctx, filed.ID, code)
		if err != nil || r.Status != privacy.StatusVerified || r.VerifiedAt.IsZero() || secret == "" {
			t.Fatalf("Verify: %+v %q %v", r, secret, err)
		}
		got, err := f.svc.Status(ctx, filed.ID, secret)
		if err != nil || got.ID != filed.ID || got.Status != privacy.StatusVerified {
			t.Fatalf("Status with the secret: %+v, %v", got, err)
		}
		if _, _, err := f.svc.Verify(ctx, filed.ID, code); !errors.Is(err, privacy.ErrCodeExpired) {
			t.Fatalf("the same code twice: %v", err)
		}
		if got := f.actions(t, filed.ID); fmt.Sprint(got) != "[filed code_sent verified]" {
			t.Fatalf("audit %v", got)
		}
	})
	t.Run("three wrong attempts use the code up", func(t *testing.T) {
		f := newFixture(t)
		filed := f.file(t, janeEmail, privacy.TypeDelete)
		code := f.mail.LastCode(janeEmail)
		for left := privacy.MaxAttempts - 1; left >= 0; left-- {
			_, _, err := f.svc.Verify(ctx, filed.ID, wrongCode(code))
			var w *privacy.WrongCodeError
			if !errors.As(err, &w) || w.Left != left {
				t.Fatalf("wrong code: %v, want %d attempts left", err, left)
			}
		}
		if _, _, err := f.svc.Verify(ctx, filed.ID, code); !errors.Is(err, privacy.ErrCodeExpired) {
			t.Fatalf("right code after 3 wrong ones: %v", err)
		}
		if r := f.get(t, filed.ID); r.Status != privacy.StatusReceived {
			t.Fatalf("status %s", r.Status)
		}
	})
	t.Run("a wrong attempt leaves the rest usable", func(t *testing.T) {
		f := newFixture(t)
		filed := f.file(t, janeEmail, privacy.TypeDelete)
		code := f.mail.LastCode(janeEmail)
		if _, _, err := f.svc.Verify(ctx, filed.ID, wrongCode(code)); err == nil {
			t.Fatal("wrong code accepted")
		}
		if _, _, err := f.svc.Verify(ctx, filed.ID, code); err != nil {
			t.Fatalf("right code on the second attempt: %v", err)
		}
	})
	t.Run("codes expire after 10 minutes", func(t *testing.T) {
		f := newFixture(t)
		filed := f.file(t, janeEmail, privacy.TypeDelete)
		code := f.mail.LastCode(janeEmail)
		f.clock.Add(privacy.CodeLifetime)
		if _, _, err := f.svc.Verify(ctx, filed.ID, code); !errors.Is(err, privacy.ErrCodeExpired) {
			t.Fatalf("expired code: %v", err)
		}
	})
	t.Run("malformed input and other people's ids", func(t *testing.T) {
		f := newFixture(t)
		filed := f.file(t, janeEmail, privacy.TypeDelete)
		for _, code := range []string{"", "12345", "1234567", "12a456", "１２３４５６"} {
			var v *privacy.ValidationError
			if _, _, err := f.svc.Verify(ctx, filed.ID, code); !errors.As(err, &v) || v.Field != "code" {
				t.Errorf("code %q: %v", code, err)
			}
		}
		for _, id := range []string{"pr_00000000000000000000000000000000", "not-an-id", filed.ID + "0", strings.ToUpper(filed.ID)} {
			if _, _, err := f.svc.Verify(ctx, id, f.mail.LastCode(janeEmail)); !errors.Is(err, privacy.ErrNotFound) {
				t.Errorf("id %q: %v", id, err)
			}
		}
		// Malformed codes are not counted as attempts.
		if _, _, err := f.svc.Verify(ctx, filed.ID, f.mail.LastCode(janeEmail)); err != nil {
			t.Fatalf("right code after malformed ones: %v", err)
		}
	})
	t.Run("concurrent guesses cannot exceed the attempt limit", func(t *testing.T) {
		f := newFixture(t)
		filed := f.file(t, janeEmail, privacy.TypeDelete)
		code := f.mail.LastCode(janeEmail)
		var mu sync.Mutex
		counted := 0
		var wg sync.WaitGroup
		for i := range 20 {
			guess := fmt.Sprintf("%06d", i)
			if guess == code {
				guess = "999999"
			}
			wg.Go(func() {
				var w *privacy.WrongCodeError
				if _, _, err := f.svc.Verify(ctx, filed.ID, guess); errors.As(err, &w) {
					mu.Lock()
					counted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if counted > privacy.MaxAttempts {
			t.Fatalf("%d wrong guesses were evaluated; the limit is %d", counted, privacy.MaxAttempts)
		}
	})
}

func TestStatusNeedsTheSecret(t *testing.T) {
	f := newFixture(t)
	r, secret := f.verified(t, janeEmail, privacy.TypeAccess)
	other, otherSecret := f.verified(t, strangerMail, privacy.TypeAccess)
	for _, c := range []struct{ id, secret string }{
		{r.ID, ""},
		{r.ID, "pss_wrong"},
		{r.ID, otherSecret},  // someone else's secret
		{other.ID, secret},   // my secret on someone else's request
		{r.ID, secret + "x"}, // altered
		{"pr_x", secret},     // malformed id
		{r.ID, r.SecretHash}, // the stored hash is not the secret
	} {
		if _, err := f.svc.Status(ctx, c.id, c.secret); !errors.Is(err, privacy.ErrNotFound) {
			t.Errorf("Status(%q, %q) = %v, want ErrNotFound", c.id, c.secret, err)
		}
	}
	// An unverified request has no secret at all.
	filed := f.file(t, "third@example.net", privacy.TypeAccess)
	if _, err := f.svc.Status(ctx, filed.ID, ""); !errors.Is(err, privacy.ErrNotFound) {
		t.Fatalf("unverified: %v", err)
	}
}

func TestDuplicates(t *testing.T) {
	t.Run("the same subject and type returns the open request with a new code", func(t *testing.T) {
		f := newFixture(t)
		first := f.file(t, janeEmail, privacy.TypeDelete)
		oldCode := f.mail.LastCode(janeEmail)
		again := f.file(t, "jane.doe@example.com", privacy.TypeDelete) // other spelling, same subject
		if again.ID != first.ID || !again.Duplicate {
			t.Fatalf("second filing %+v, first %s", again, first.ID)
		}
		newCode := f.mail.LastCode("jane.doe@example.com")
		if newCode == "" || !strings.Contains(f.mail.Sent()[1].Text, "already have an open request") {
			t.Fatalf("duplicate mail %+v", f.mail.Sent())
		}
		if oldCode != newCode {
			if _, _, err := f.svc.Verify(ctx, first.ID, oldCode); err == nil {
				t.Fatal("the replaced code still verifies")
			}
		}
		if _, _, err := f.svc.Verify(ctx, first.ID, newCode); err != nil {
			t.Fatalf("new code: %v", err)
		}
		other := f.file(t, janeEmail, privacy.TypeAccess)
		if other.ID == first.ID || other.Duplicate {
			t.Fatal("another type was treated as a duplicate")
		}
	})
	t.Run("re-verifying replaces the status secret", func(t *testing.T) {
		f := newFixture(t)
		r, oldSecret := f.verified(t, janeEmail, privacy.TypeDelete)
		again := f.file(t, janeEmail, privacy.TypeDelete)
		got, newSecret, err := f.svc.Verify(ctx, again.ID, f.mail.LastCode(janeEmail))
		if err != nil || got.ID != r.ID || got.Status != privacy.StatusVerified || !got.VerifiedAt.Equal(r.VerifiedAt) {
			t.Fatalf("re-verify %+v, %v", got, err)
		}
		if _, err := f.svc.Status(ctx, r.ID, oldSecret); !errors.Is(err, privacy.ErrNotFound) {
			t.Fatalf("old secret: %v", err)
		}
		if _, err := f.svc.Status(ctx, r.ID, newSecret); err != nil {
			t.Fatalf("new secret: %v", err)
		}
		if got := f.actions(t, r.ID); fmt.Sprint(got) != "[filed code_sent verified duplicate_filed code_sent reverified]" {
			t.Fatalf("audit %v", got)
		}
	})
	t.Run("at most 5 codes a day", func(t *testing.T) {
		f := newFixture(t)
		first := f.file(t, janeEmail, privacy.TypeDelete)
		for range privacy.MaxCodesPerWindow - 1 {
			f.file(t, janeEmail, privacy.TypeDelete)
		}
		if _, err := f.svc.File(ctx, privacy.FileInput{Email: janeEmail, Type: privacy.TypeDelete, Regulation: privacy.CCPA}); !errors.Is(err, privacy.ErrTooManyCodes) {
			t.Fatalf("6th code: %v", err)
		}
		if n := len(f.mail.Sent()); n != privacy.MaxCodesPerWindow {
			t.Fatalf("%d mails", n)
		}
		f.clock.Add(privacy.CodeWindow)
		if again := f.file(t, janeEmail, privacy.TypeDelete); again.ID != first.ID {
			t.Fatal("new window did not refile the open request")
		}
	})
	t.Run("concurrent filings make one request", func(t *testing.T) {
		f := newFixture(t)
		ids := make(chan string, 4)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				filed, err := f.svc.File(ctx, privacy.FileInput{Email: janeEmail, Type: privacy.TypeOptOut, Regulation: privacy.CCPA})
				if err == nil {
					ids <- filed.ID
				} else if !errors.Is(err, privacy.ErrConflict) {
					t.Errorf("File: %v", err)
				}
			})
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		if len(seen) != 1 {
			t.Fatalf("%d distinct requests: %v", len(seen), seen)
		}
	})
}

func TestMailFailures(t *testing.T) {
	f := newFixture(t)
	f.mail.Fail = errors.New("SES throttled")
	_, err := f.svc.File(ctx, privacy.FileInput{Email: janeEmail, Type: privacy.TypeAccess, Regulation: privacy.CCPA})
	if !errors.Is(err, privacy.ErrMail) {
		t.Fatalf("File with mail down: %v", err)
	}
	page, _ := f.svc.List(ctx, privacy.ListFilter{})
	if len(page.Requests) != 1 || !page.Requests[0].AckedAt.IsZero() {
		t.Fatalf("after a failed code mail: %+v", page.Requests)
	}
	id := page.Requests[0].ID
	if got := f.actions(t, id); fmt.Sprint(got) != "[filed mail_failed]" {
		t.Fatalf("audit %v", got)
	}
	f.mail.Fail = nil
	again := f.file(t, janeEmail, privacy.TypeAccess)
	if again.ID != id || f.get(t, id).AckedAt.IsZero() {
		t.Fatalf("retry: %+v acked %v", again, f.get(t, id).AckedAt)
	}
}

func TestApprove(t *testing.T) {
	f := newFixture(t)
	unverified := f.file(t, janeEmail, privacy.TypeDelete)
	var te *privacy.TransitionError
	if _, err := f.svc.Approve(ctx, unverified.ID, operator); !errors.As(err, &te) || te.From != privacy.StatusReceived {
		t.Fatalf("approve unverified delete: %v", err)
	}
	if len(f.queue.Jobs()) != 0 {
		t.Fatal("queued an unverified request")
	}
	r, _ := f.verified(t, janeEmail, privacy.TypeAccess)
	got, err := f.svc.Approve(ctx, r.ID, operator)
	if err != nil || got.Status != privacy.StatusInProgress || got.ApprovedAt.IsZero() {
		t.Fatalf("approve: %+v, %v", got, err)
	}
	jobs := f.queue.Jobs()
	job, ok := jobs[0].(privacy.Job)
	if len(jobs) != 1 || !ok || job.RequestID != r.ID || job.Type != privacy.TypeAccess || job.V != 1 || !job.ApprovedAt.Equal(got.ApprovedAt) {
		t.Fatalf("jobs %+v", jobs)
	}
	// Queue down: the approval stands, approving again re-queues.
	f.queue.Fail = errors.New("sqs down")
	r2, _ := f.verified(t, strangerMail, privacy.TypeDelete)
	if _, err := f.svc.Approve(ctx, r2.ID, operator); !errors.Is(err, privacy.ErrQueue) {
		t.Fatalf("approve with the queue down: %v", err)
	}
	if s := f.get(t, r2.ID).Status; s != privacy.StatusInProgress {
		t.Fatalf("status after queue failure %s", s)
	}
	f.queue.Fail = nil
	if _, err := f.svc.Approve(ctx, r2.ID, operator); err != nil {
		t.Fatalf("re-approve: %v", err)
	}
	if jobs := f.queue.Jobs(); len(jobs) != 2 || jobs[1].(privacy.Job).RequestID != r2.ID {
		t.Fatalf("jobs after re-approve %+v", jobs)
	}
	if got := f.actions(t, r2.ID); fmt.Sprint(got) != "[filed code_sent verified approved requeued]" {
		t.Fatalf("audit %v", got)
	}
	_, log, _ := f.svc.Get(ctx, r2.ID)
	if log[3].Actor != operator || log[3].From != privacy.StatusVerified || log[3].To != privacy.StatusInProgress {
		t.Fatalf("approval entry %+v", log[3])
	}
	// Opt-outs need no verification.
	optOut := f.file(t, "third@example.net", privacy.TypeOptOut)
	if got, err := f.svc.Approve(ctx, optOut.ID, operator); err != nil || got.Status != privacy.StatusInProgress {
		t.Fatalf("approve unverified opt-out: %+v, %v", got, err)
	}
	// A denied request cannot be approved.
	denied := f.file(t, "fourth@example.net", privacy.TypeDelete)
	if _, err := f.svc.Deny(ctx, denied.ID, privacy.DenySuspectedFraud, "", operator); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approve(ctx, denied.ID, operator); !errors.As(err, &te) {
		t.Fatalf("approve denied: %v", err)
	}
}

func TestDeny(t *testing.T) {
	f := newFixture(t)
	r, secret := f.verified(t, janeEmail, privacy.TypeDelete)
	for _, c := range []struct {
		reason privacy.DenyReason
		note   string
		field  string
	}{
		{"because", "", "reason"},
		{privacy.DenyOther, "", "note"},
		{privacy.DenyOther, "   ", "note"},
		{privacy.DenyNoMatch, strings.Repeat("n", privacy.MaxReasonRunes+1), "note"},
	} {
		var v *privacy.ValidationError
		if _, err := f.svc.Deny(ctx, r.ID, c.reason, c.note, operator); !errors.As(err, &v) || v.Field != c.field {
			t.Errorf("deny %q %q: %v", c.reason, c.note, err)
		}
	}
	out, err := f.svc.Deny(ctx, r.ID, privacy.DenyNoMatch, "no integrator uses this address", operator)
	if err != nil || !out.NoticeSent {
		t.Fatalf("deny: %+v, %v", out, err)
	}
	got := f.get(t, r.ID)
	if got.Status != privacy.StatusDenied || got.DenyReason != privacy.DenyNoMatch || got.Email != "" || got.ClosedAt.IsZero() {
		t.Fatalf("denied request %+v", got)
	}
	notice := f.mail.Sent()[len(f.mail.Sent())-1]
	if notice.To != janeEmail || !strings.Contains(notice.Text, privacy.DenyReasonText[privacy.DenyNoMatch]) ||
		!strings.Contains(notice.Text, "no integrator uses this address") || !strings.Contains(notice.Text, "GDPR Art. 11") {
		t.Fatalf("notice %+v", notice)
	}
	// The subject can still read the outcome.
	if st, err := f.svc.Status(ctx, r.ID, secret); err != nil || st.Status != privacy.StatusDenied {
		t.Fatalf("status after denial %+v, %v", st, err)
	}
	var te *privacy.TransitionError
	if _, err := f.svc.Deny(ctx, r.ID, privacy.DenyOther, "again", operator); !errors.As(err, &te) {
		t.Fatalf("deny twice: %v", err)
	}
	// Closing freed the subject: a new filing is a new request.
	if again := f.file(t, janeEmail, privacy.TypeDelete); again.ID == r.ID || again.Duplicate {
		t.Fatalf("after denial %+v", again)
	}
	// Requests being carried out cannot be denied.
	r2, _ := f.verified(t, strangerMail, privacy.TypeAccess)
	if _, err := f.svc.Approve(ctx, r2.ID, operator); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Deny(ctx, r2.ID, privacy.DenyOther, "late", operator); !errors.As(err, &te) || te.From != privacy.StatusInProgress {
		t.Fatalf("deny in progress: %v", err)
	}
	// A failed notice does not undo the denial.
	r3 := f.file(t, "third@example.net", privacy.TypeAccess)
	f.mail.Fail = errors.New("SES down")
	out, err = f.svc.Deny(ctx, r3.ID, privacy.DenyInsufficientVerification, "", operator)
	if err != nil || out.NoticeSent || out.Request.Status != privacy.StatusDenied {
		t.Fatalf("deny with mail down: %+v, %v", out, err)
	}
	if got := f.actions(t, r3.ID); fmt.Sprint(got) != "[filed code_sent denied notice_failed]" {
		t.Fatalf("audit %v", got)
	}
}

func TestExtend(t *testing.T) {
	f := newFixture(t)
	r, _ := f.verified(t, janeEmail, privacy.TypeAccess)
	var v *privacy.ValidationError
	if _, err := f.svc.Extend(ctx, r.ID, " ", operator); !errors.As(err, &v) || v.Field != "reason" {
		t.Fatalf("no reason: %v", err)
	}
	out, err := f.svc.Extend(ctx, r.ID, "the account has several years of labeling history", operator)
	if err != nil || !out.NoticeSent || out.Request.Deadlines.Extended.String() != "2027-02-28" || out.Request.Deadlines.Due().String() != "2027-02-28" {
		t.Fatalf("extend: %+v, %v", out, err)
	}
	notice := f.mail.Sent()[len(f.mail.Sent())-1]
	if !strings.Contains(notice.Text, "2027-02-28") || !strings.Contains(notice.Text, "several years") {
		t.Fatalf("notice %q", notice.Text)
	}
	if _, err := f.svc.Extend(ctx, r.ID, "more", operator); !errors.Is(err, privacy.ErrAlreadyExtended) {
		t.Fatalf("second extension: %v", err)
	}
	optOut := f.file(t, strangerMail, privacy.TypeOptOut)
	if _, err := f.svc.Extend(ctx, optOut.ID, "busy", operator); !errors.Is(err, privacy.ErrNoExtension) {
		t.Fatalf("extend a CCPA opt-out: %v", err)
	}
	late := f.file(t, "third@example.net", privacy.TypeDelete)
	f.clock.Set(t0.AddDate(0, 0, 46))
	if _, err := f.svc.Extend(ctx, late.ID, "forgot", operator); !errors.Is(err, privacy.ErrDeadlinePassed) {
		t.Fatalf("extend after the deadline: %v", err)
	}
	page, err := f.svc.List(ctx, privacy.ListFilter{Overdue: true})
	if err != nil || len(page.Requests) != 2 {
		t.Fatalf("overdue after 46 days: %d, %v", len(page.Requests), err)
	}
	for _, got := range page.Requests {
		if got.ID == r.ID {
			t.Fatal("the extended request is listed as overdue")
		}
	}
}

func TestList(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, f.file(t, fmt.Sprintf("user%d@example.com", i), privacy.TypeAccess).ID)
		f.clock.Add(time.Minute)
	}
	var got []string
	filter := privacy.ListFilter{Limit: 2}
	for range 5 {
		page, err := f.svc.List(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Requests {
			got = append(got, r.ID)
		}
		if page.Next == "" {
			break
		}
		filter.Cursor = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
		t.Fatalf("pages %v", got)
	}
	for _, c := range []struct {
		f     privacy.ListFilter
		field string
	}{
		{privacy.ListFilter{Status: "open"}, "status"},
		{privacy.ListFilter{Type: "erase"}, "type"},
		{privacy.ListFilter{Limit: -1}, "limit"},
		{privacy.ListFilter{Limit: privacy.MaxListLimit + 1}, "limit"},
		{privacy.ListFilter{Cursor: "!!"}, "cursor"},
		{privacy.ListFilter{Cursor: "bm90IGEgY3Vyc29y"}, "cursor"},
	} {
		var v *privacy.ValidationError
		if _, err := f.svc.List(ctx, c.f); !errors.As(err, &v) || v.Field != c.field {
			t.Errorf("%+v: %v", c.f, err)
		}
	}
	page, err := f.svc.List(ctx, privacy.ListFilter{Status: privacy.StatusCompleted, Overdue: true})
	if err != nil || len(page.Requests) != 0 {
		t.Fatalf("overdue completed: %v, %v", page, err)
	}
}

func TestCloseUnverified(t *testing.T) {
	f := newFixture(t)
	old := f.file(t, janeEmail, privacy.TypeDelete)
	oldOptOut := f.file(t, janeEmail, privacy.TypeOptOut)
	oldVerified, _ := f.verified(t, strangerMail, privacy.TypeAccess)
	f.clock.Add(privacy.UnverifiedWindow + time.Hour)
	recent := f.file(t, "third@example.net", privacy.TypeDelete)
	c, err := f.svc.CloseUnverified(ctx, privacy.UnverifiedWindow, nil)
	if err != nil || c != (privacy.Closing{Denied: 1, Done: true}) {
		t.Fatalf("closed %+v, %v", c, err)
	}
	if r := f.get(t, old.ID); r.Status != privacy.StatusDenied || r.DenyReason != privacy.DenyInsufficientVerification || r.Email != "" {
		t.Fatalf("old unverified %+v", r)
	}
	for _, id := range []string{oldOptOut.ID, oldVerified.ID, recent.ID} {
		if r := f.get(t, id); r.Status.Open() != true || r.Email == "" {
			t.Errorf("%s (%s) was closed", id, r.Type)
		}
	}
}

// CloseUnverified asks late before every denial: once it says so, it stops with the rest
// still open and not Done, and the next call denies them. With nothing left to deny it is
// Done however late.
func TestCloseUnverifiedStopsWhenLate(t *testing.T) {
	f := newFixture(t)
	var filed []string
	for _, email := range []string{janeEmail, strangerMail, "third@example.net"} {
		filed = append(filed, f.file(t, email, privacy.TypeDelete).ID)
	}
	f.clock.Add(privacy.UnverifiedWindow + time.Hour)
	// late judges the fixture's clock against a deadline that the first denial passes.
	deadline := f.clock.Now().Add(time.Minute)
	late := func() bool { return !f.clock.Now().Before(deadline) }
	c, err := f.svc.CloseUnverified(ctx, privacy.UnverifiedWindow, func() bool {
		defer f.clock.Add(time.Minute) // each denial takes a minute
		return late()
	})
	if err != nil || c != (privacy.Closing{Denied: 1, Done: false}) {
		t.Fatalf("late after one denial: %+v, %v", c, err)
	}
	open := 0
	for _, id := range filed {
		if f.get(t, id).Status == privacy.StatusReceived {
			open++
		}
	}
	if open != 2 {
		t.Fatalf("%d requests left open, want 2", open)
	}
	c, err = f.svc.CloseUnverified(ctx, privacy.UnverifiedWindow, nil)
	if err != nil || c != (privacy.Closing{Denied: 2, Done: true}) {
		t.Fatalf("next call: %+v, %v", c, err)
	}
	c, err = f.svc.CloseUnverified(ctx, privacy.UnverifiedWindow, func() bool { return true })
	if err != nil || c != (privacy.Closing{Done: true}) {
		t.Fatalf("nothing left, late: %+v, %v", c, err)
	}
}

// exec is a fake executor: it handles `items` records two per step and fails once at
// failAt (a cursor) when set.
type exec struct {
	name   string
	items  int
	failAt string
	calls  []string
}

var _ privacy.Executor = (*exec)(nil)

func (e *exec) Name() string { return e.name }

func (e *exec) Step(_ context.Context, r privacy.Request, cursor string) (privacy.Step, error) {
	e.calls = append(e.calls, cursor)
	if cursor == e.failAt && e.failAt != "" {
		e.failAt = ""
		return privacy.Step{}, errors.New("throttled")
	}
	done := 0
	fmt.Sscan(cursor, &done)
	n := min(2, e.items-done)
	next := done + n
	return privacy.Step{Cursor: fmt.Sprint(next), Done: next >= e.items, Items: n}, nil
}

func TestRunResumesFromCheckpoints(t *testing.T) {
	f := newFixture(t)
	r, secret := f.verified(t, janeEmail, privacy.TypeDelete)
	var te *privacy.TransitionError
	if _, err := f.svc.Run(ctx, r.ID, nil); !errors.As(err, &te) {
		t.Fatalf("run before approval: %v", err)
	}
	if _, err := f.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	accounts := &exec{name: "accounts", items: 1}
	labels := &exec{name: "labels", items: 5, failAt: "4"}
	if _, err := f.svc.Run(ctx, r.ID, []privacy.Executor{accounts, labels}); err == nil {
		t.Fatal("run survived a failing executor")
	}
	mid := f.get(t, r.ID)
	if mid.Status != privacy.StatusInProgress || !mid.Progress["accounts"].Done || mid.Progress["labels"].Cursor != "4" || mid.Progress["labels"].Items != 4 {
		t.Fatalf("checkpoint %+v", mid.Progress)
	}
	// The redelivered job resumes where it stopped: accounts is not run again.
	accounts.calls, labels.calls = nil, nil
	done, err := f.svc.Run(ctx, r.ID, []privacy.Executor{accounts, labels})
	if err != nil || done.Status != privacy.StatusCompleted || done.Email != "" || done.Progress["labels"].Items != 5 {
		t.Fatalf("run: %+v, %v", done, err)
	}
	if len(accounts.calls) != 0 || fmt.Sprint(labels.calls) != "[4]" {
		t.Fatalf("resumed calls: accounts %v labels %v", accounts.calls, labels.calls)
	}
	if last := f.mail.Sent()[len(f.mail.Sent())-1]; last.To != janeEmail || !strings.Contains(last.Subject, "complete") {
		t.Fatalf("completion notice %+v", last)
	}
	if st, err := f.svc.Status(ctx, r.ID, secret); err != nil || st.Status != privacy.StatusCompleted {
		t.Fatalf("status %+v, %v", st, err)
	}
	// Redelivery after completion does nothing.
	labels.calls = nil
	if again, err := f.svc.Run(ctx, r.ID, []privacy.Executor{accounts, labels}); err != nil || again.Version != done.Version || len(labels.calls) != 0 {
		t.Fatalf("second run: %v, calls %v", err, labels.calls)
	}
}

// The address, codes and secrets never reach the audit log.
func TestAuditHoldsNoPersonalData(t *testing.T) {
	f := newFixture(t)
	r, secret := f.verified(t, janeEmail, privacy.TypeDelete)
	if _, err := f.svc.Deny(ctx, r.ID, privacy.DenyOther, "duplicate account", operator); err != nil {
		t.Fatal(err)
	}
	_, log, err := f.svc.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	dump := strings.ToLower(fmt.Sprintf("%+v", log))
	for _, secretish := range []string{"jane.doe", "example.com", secret, f.mail.LastCode(janeEmail)} {
		if secretish != "" && strings.Contains(dump, strings.ToLower(secretish)) {
			t.Errorf("audit log contains %q", secretish)
		}
	}
}

func TestNewServiceChecksItsPorts(t *testing.T) {
	ok := privacy.Deps{Store: &privacytest.Store{}, Mailer: &privacytest.Mailer{}, Accounts: privacytest.Accounts{}, Queue: &privacytest.Queue{}, Clock: privacy.ClockFunc(time.Now), Key: key}
	if _, err := privacy.NewService(ok); err != nil {
		t.Fatal(err)
	}
	short := ok
	short.Key = key[:16]
	if _, err := privacy.NewService(short); err == nil {
		t.Error("accepted a 16-byte key")
	}
	noStore := ok
	noStore.Store = nil
	if _, err := privacy.NewService(noStore); err == nil {
		t.Error("accepted a missing store")
	}
}

func TestSubjectHash(t *testing.T) {
	a, _ := privacy.NormalizeEmail(" Jane.Doe@Example.COM ")
	b, _ := privacy.NormalizeEmail("jane.doe@example.com")
	if a != b || privacy.SubjectHash(key, a) != privacy.SubjectHash(key, b) {
		t.Fatalf("spellings differ: %q %q", a, b)
	}
	other := bytes.Repeat([]byte{8}, 32)
	if privacy.SubjectHash(key, a) == privacy.SubjectHash(other, a) {
		t.Fatal("the hash does not depend on the key")
	}
}

// Each filing mails a code to an address anyone may type: one network (an IPv4 address, an
// IPv6 /64) may file FilingsPerNetwork requests per clock hour, to any addresses, and is
// then told when it may file again; the refused filing sends nothing. A malformed filing
// (which sends nothing) does not count; other networks, and the next hour, count afresh.
func TestFilingsPerNetworkAreLimited(t *testing.T) {
	f := newFixture(t)
	office := net.ParseIP("198.51.100.23")
	file := func(i int, ip net.IP) error {
		_, err := f.svc.File(ctx, privacy.FileInput{Email: fmt.Sprintf("person%d@example.org", i), Type: privacy.TypeAccess, Regulation: privacy.GDPR, Network: ip})
		return err
	}
	if _, err := f.svc.File(ctx, privacy.FileInput{Email: "not an address", Type: privacy.TypeAccess, Regulation: privacy.GDPR, Network: office}); err == nil {
		t.Fatal("a malformed filing was accepted")
	}
	for i := range privacy.FilingsPerNetwork {
		if err := file(i, office); err != nil {
			t.Fatalf("filing %d: %v", i+1, err)
		}
	}
	mails := len(f.mail.Sent())
	var limited *privacy.FilingLimitError
	// The clock ticks a millisecond per reading: the hour ends a little under 30 minutes on.
	if err := file(100, office); !errors.As(err, &limited) || limited.RetryAfter <= 29*time.Minute || limited.RetryAfter > 30*time.Minute {
		t.Fatalf("filing %d from one network: %v, want a FilingLimitError to retry when the hour ends, in 30 minutes (t0 is hh:30)", privacy.FilingsPerNetwork+1, err)
	}
	if len(f.mail.Sent()) != mails {
		t.Error("the refused filing sent a mail")
	}
	if err := file(101, net.ParseIP("198.51.100.24")); err != nil {
		t.Errorf("another IPv4 address: %v", err)
	}
	// An IPv6 /64 is one network.
	for i := range privacy.FilingsPerNetwork {
		if err := file(200+i, net.ParseIP(fmt.Sprintf("2001:db8:1:2::%x", i+1))); err != nil {
			t.Fatalf("IPv6 filing %d: %v", i+1, err)
		}
	}
	if err := file(300, net.ParseIP("2001:db8:1:2:ffff::1")); !errors.As(err, &limited) {
		t.Errorf("another address of the same /64: %v, want a FilingLimitError", err)
	}
	f.clock.Add(30 * time.Minute)
	if err := file(400, office); err != nil {
		t.Errorf("the next hour: %v", err)
	}
}
