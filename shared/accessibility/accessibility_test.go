package accessibility_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/accessibility/accessibilitytest"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/verify"
	"github.com/crowdgate/crowdgate/shared/verify/verifytest"
)

var key = []byte("crowdgate-test-privacy-key-32-bytes!")

const (
	base  = "https://captcha.example.org"
	jane  = "Jane.Doe@Example.com"
	janeN = "jane.doe@example.com"
)

type fix struct {
	svc      *accessibility.Service
	store    *accessibilitytest.Store
	mem      *accessibilitytest.Memory
	chals    *accessibilitytest.ChallengeMemory
	mailbox  *accessibilitytest.Mailbox
	tokens   *verifytest.Tokens
	clock    *challengetest.Clock
	site     account.Site
	secret   string
	accounts *account.Service
	visual   *challengetest.Store
	risk     *challengetest.Risk
	recorded []challenge.RiskRecord
}

func newFix(t *testing.T) *fix {
	t.Helper()
	f := &fix{mailbox: &accessibilitytest.Mailbox{}, tokens: &verifytest.Tokens{}, clock: challengetest.NewClock(time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC))}
	f.store, f.mem = accessibilitytest.NewStore()
	f.visual = challengetest.NewStore()
	f.risk = &challengetest.Risk{RecordFunc: func(_ context.Context, r challenge.RiskRecord) error {
		f.recorded = append(f.recorded, r)
		return nil
	}}
	chals, chalMem := accessibilitytest.NewChallenges()
	f.chals = chalMem
	f.accounts = account.NewService(&accounttest.Store{}, f.clock.Now)
	ctx := context.Background()
	it, err := f.accounts.CreateIntegrator(ctx, account.NewIntegrator{Name: "Shop", Email: "ops@shop.example", Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	f.site, f.secret, err = f.accounts.CreateSite(ctx, it.ID, account.NewSite{Name: "shop", Hostnames: []string{"shop.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = accessibility.New(accessibility.Deps{
		Store: f.store, Challenges: chals, Mailer: accessibilitytest.NewMailer(f.mailbox),
		Sites:  challengetest.NewSites(challenge.SiteInfo{Sitekey: f.site.Sitekey, Hostnames: f.site.Hostnames}),
		Signer: challengetest.Signer(), Tokens: f.tokens, Visual: f.visual, Risk: f.risk, Key: key, BaseURL: base, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// signUp signs jane up and returns the confirm code from the mail.
func (f *fix) signUp(t *testing.T, email string) string {
	t.Helper()
	if err := f.svc.SignUp(context.Background(), accessibility.SignUpInput{Email: email, Network: net.ParseIP("203.0.113.7")}); err != nil {
		t.Fatal(err)
	}
	code := f.mailbox.ConfirmCode(strings.TrimSpace(email))
	if code == "" {
		t.Fatalf("no confirm link mailed to %s: %+v", email, f.mailbox.All())
	}
	return code
}

func (f *fix) token(t *testing.T) string {
	t.Helper()
	tok, _, err := f.svc.Confirm(context.Background(), f.signUp(t, jane))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fix) issue(t *testing.T, tok string) accessibility.Issued {
	t.Helper()
	is, err := f.svc.Issue(context.Background(), accessibility.IssueInput{Token: tok, Sitekey: f.site.Sitekey, Host: "Shop.Example.com", Locale: "en"})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func (f *fix) answerOf(t *testing.T, id string) string {
	t.Helper()
	c, ok := f.chals.Get(id)
	if !ok {
		t.Fatalf("challenge %s not stored", id)
	}
	return c.Answers[len(c.Answers)-1]
}

// The whole flow: the mailed link's code becomes a token, the token gets a question, a
// right answer (typed in another case, with spaces) gets a pass token that the real
// siteverify accepts once, for the site and hostname, with no reason that names the path.
func TestPassTokenVerifiesThroughSiteverify(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	code := f.signUp(t, jane)
	mail := f.mailbox.All()[0]
	if mail.To != jane || !strings.Contains(mail.Text, base+"/accessibility/confirm?c="+code) {
		t.Fatalf("mail %+v", mail)
	}
	tok, exp, err := f.svc.Confirm(ctx, code)
	if err != nil || !strings.HasPrefix(tok, accessibility.TokenPrefix) || !exp.Equal(f.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("Confirm = %q %v %v", tok, exp, err)
	}
	is := f.issue(t, tok)
	if !accessibility.ValidChallengeID(is.ID) || is.Question == "" || is.ExpiresIn != 5*time.Minute {
		t.Fatalf("issued %+v", is)
	}
	f.clock.Advance(20 * time.Second)
	ans := " " + strings.ToUpper(f.answerOf(t, is.ID)) + " "
	res, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: ans})
	if err != nil || !res.Pass || !strings.HasPrefix(res.Token, token.Prefix) || res.TokenTTL != token.TTL {
		t.Fatalf("Answer = %+v %v", res, err)
	}
	v := &verify.Verifier{Parser: challengetest.Signer(), Sites: f.accounts, Redeemer: f.tokens, Now: f.clock.Now}
	out, err := v.Verify(ctx, verify.Request{Secret: f.secret, Response: res.Token, Sitekey: f.site.Sitekey})
	if err != nil || !out.Success || out.Hostname != "shop.example.com" || out.Score == nil || *out.Score != accessibility.PassScore ||
		len(out.ScoreReason) != 0 {
		// No reason names the accessibility path to the site (it would hint at a disability).
		t.Fatalf("siteverify = %+v %v", out, err)
	}
	again, err := v.Verify(ctx, verify.Request{Secret: f.secret, Response: res.Token})
	if err != nil || again.Success || again.ErrorCodes[0] != verify.CodeAlreadySeen {
		t.Fatalf("second siteverify = %+v %v", again, err)
	}
}

// The site cannot tell an accessibility pass from a visual one: siteverify answers both
// with the same score and score_reason as a clean visual pass (shared/risk: humans score
// about 0.001), so no fixed value marks the visitors who use text questions.
func TestAccessibilityPassLooksLikeACleanVisualPassAtSiteverify(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	tok := f.token(t)
	is := f.issue(t, tok)
	res, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID)})
	if err != nil || !res.Pass {
		t.Fatalf("Answer = %+v %v", res, err)
	}
	signer := challengetest.Signer()
	visual, claims, err := signer.Issue(f.site.Sitekey, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.Put(ctx, token.Record{ID: claims.ID, Sitekey: f.site.Sitekey, Hostname: "shop.example.com",
		ChallengeTS: f.clock.Now(), ExpiresAt: claims.ExpiresAt, Score: 0.0012}); err != nil {
		t.Fatal(err)
	}
	v := &verify.Verifier{Parser: signer, Sites: f.accounts, Redeemer: f.tokens, Now: f.clock.Now}
	text, err := v.Verify(ctx, verify.Request{Secret: f.secret, Response: res.Token})
	if err != nil || !text.Success {
		t.Fatalf("siteverify of the text pass = %+v %v", text, err)
	}
	image, err := v.Verify(ctx, verify.Request{Secret: f.secret, Response: visual})
	if err != nil || !image.Success {
		t.Fatalf("siteverify of the visual pass = %+v %v", image, err)
	}
	if text.Score == nil || image.Score == nil || *text.Score != *image.Score || !slices.Equal(text.ScoreReason, image.ScoreReason) {
		t.Errorf("text pass: score %v reasons %v; clean visual pass: score %v reasons %v; the site can tell them apart",
			deref(text.Score), text.ScoreReason, deref(image.Score), image.ScoreReason)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// What is stored never holds the address or the raw code/token, and the text challenge
// holds nothing about who asked for it.
func TestStoredRecordsHoldOnlyHashes(t *testing.T) {
	f := newFix(t)
	tok := f.token(t)
	is := f.issue(t, tok)
	subjects := f.mem.Subjects()
	if len(subjects) != 1 || subjects[0] != privacy.SubjectHash(key, janeN) {
		t.Fatalf("subjects %v, want the privacy subject hash of the address", subjects)
	}
	recs, err := f.store.AccessibilityOf(context.Background(), subjects[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(r.Key, tok) || strings.Contains(strings.ToLower(r.Key), janeN) {
			t.Fatalf("record key %q holds the token or address", r.Key)
		}
	}
	c, _ := f.chals.Get(is.ID)
	for _, s := range append([]string{c.ID, c.Sitekey, c.Host}, c.Answers...) {
		if strings.Contains(s, accessibility.TokenHash(tok)) || strings.Contains(s, subjects[0]) {
			t.Fatalf("text challenge %+v refers to the token or subject", c)
		}
	}
}

func TestConfirmCodeExpiresAfterAnHourAndWorksOnce(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	late := f.signUp(t, jane)
	f.clock.Advance(time.Hour)
	if _, _, err := f.svc.Confirm(ctx, late); !errors.Is(err, accessibility.ErrInvalidCode) {
		t.Fatalf("code after an hour: %v, want ErrInvalidCode", err)
	}
	code := f.signUp(t, jane)
	f.clock.Advance(59 * time.Minute)
	if _, _, err := f.svc.Confirm(ctx, code); err != nil {
		t.Fatalf("code after 59 minutes: %v", err)
	}
	if _, _, err := f.svc.Confirm(ctx, code); !errors.Is(err, accessibility.ErrInvalidCode) {
		t.Fatalf("second use: %v, want ErrInvalidCode", err)
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 43) + "=", strings.Repeat("!", 43), code + "A"} {
		if _, _, err := f.svc.Confirm(ctx, bad); !errors.Is(err, accessibility.ErrInvalidCode) {
			t.Errorf("Confirm(%q): %v, want ErrInvalidCode", bad, err)
		}
	}
}

func TestTokenExpiresAfter24HoursAndRevocationStopsIt(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	tok := f.token(t)
	f.clock.Advance(24*time.Hour - time.Second)
	f.issue(t, tok)
	f.clock.Advance(time.Second)
	if _, err := f.svc.Issue(ctx, accessibility.IssueInput{Token: tok, Sitekey: f.site.Sitekey, Host: "shop.example.com"}); !errors.Is(err, accessibility.ErrTokenRequired) {
		t.Fatalf("token after 24 h: %v, want ErrTokenRequired", err)
	}

	tok = f.token(t)
	is := f.issue(t, tok)
	if err := f.svc.Revoke(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Issue(ctx, accessibility.IssueInput{Token: tok, Sitekey: f.site.Sitekey, Host: "shop.example.com"}); !errors.Is(err, accessibility.ErrTokenRequired) {
		t.Fatalf("issue after revoke: %v", err)
	}
	if _, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID)}); !errors.Is(err, accessibility.ErrTokenRequired) {
		t.Fatalf("answer after revoke: %v", err)
	}
	for _, bad := range []string{"", "cga_", "cga_" + strings.Repeat("A", 43), "P1_abc", accessibility.TokenPrefix + strings.Repeat("é", 43)} {
		if _, err := f.svc.Issue(ctx, accessibility.IssueInput{Token: bad, Sitekey: f.site.Sitekey, Host: "shop.example.com"}); !errors.Is(err, accessibility.ErrTokenRequired) {
			t.Errorf("token %q: %v, want ErrTokenRequired", bad, err)
		}
	}
}

func TestSignUpMailsAreLimitedPerAddress(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	// Three sign-ups from different networks, spelled differently: one address.
	for i, e := range []string{jane, janeN, "  JANE.DOE@example.COM "} {
		if err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: e, Network: net.IPv4(198, 51, 100, byte(i))}); err != nil {
			t.Fatalf("sign-up %d: %v", i+1, err)
		}
		f.clock.Advance(time.Hour)
	}
	err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: jane, Network: net.IPv4(198, 51, 100, 9)})
	var le *accessibility.LimitError
	if !errors.As(err, &le) || le.What != accessibility.LimitAddress || le.RetryAfter != 21*time.Hour {
		t.Fatalf("fourth sign-up: %v, want the address limit with 21 h to wait", err)
	}
	if n := len(f.mailbox.All()); n != 3 {
		t.Fatalf("%d mails sent, want 3", n)
	}
	// Someone else is not affected, and jane may sign up again once the day is over.
	if err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: "max@example.com", Network: net.IPv4(198, 51, 100, 9)}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(21 * time.Hour)
	if err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: jane, Network: net.IPv4(198, 51, 100, 9)}); err != nil {
		t.Fatalf("after 24 h: %v", err)
	}
}

func TestSignUpsAreLimitedPerNetwork(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	f.clock.Advance(-30 * time.Minute) // 19:00: a whole hour window ahead
	ip := net.ParseIP("2001:db8:1:2::7")
	for i := range accessibility.SignupsPerNetwork {
		// Another address of the same /64 is the same network.
		ip[15] = byte(i)
		if err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: "p" + string(rune('a'+i)) + "@example.com", Network: ip}); err != nil {
			t.Fatalf("sign-up %d: %v", i+1, err)
		}
	}
	err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: "late@example.com", Network: net.ParseIP("2001:db8:1:2::ff")})
	var le *accessibility.LimitError
	if !errors.As(err, &le) || le.What != accessibility.LimitNetwork {
		t.Fatalf("sign-up over the network limit: %v", err)
	}
	if err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: "late@example.com", Network: net.ParseIP("2001:db8:1:3::1")}); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if n := len(f.mailbox.All()); n != accessibility.SignupsPerNetwork+1 {
		t.Fatalf("%d mails, want %d", n, accessibility.SignupsPerNetwork+1)
	}
}

func TestTextChallengesAreLimitedPerToken(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	tok := f.token(t)
	for range accessibility.ChallengesPerToken {
		f.issue(t, tok)
	}
	_, err := f.svc.Issue(ctx, accessibility.IssueInput{Token: tok, Sitekey: f.site.Sitekey, Host: "shop.example.com"})
	var le *accessibility.LimitError
	if !errors.As(err, &le) || le.What != accessibility.LimitToken || le.RetryAfter != time.Hour {
		t.Fatalf("challenge over the limit: %v", err)
	}
	f.clock.Advance(time.Hour)
	f.issue(t, tok)
}

func TestAnswerOutcomes(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	tok := f.token(t)

	is := f.issue(t, tok)
	// An empty or oversized answer does not use the challenge up.
	for _, bad := range []string{"", "  ", strings.Repeat("9", accessibility.MaxAnswerRunes+1)} {
		if _, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: bad}); !errors.Is(err, accessibility.ErrInvalidAnswer) {
			t.Fatalf("answer %q: %v, want ErrInvalidAnswer", bad, err)
		}
	}
	res, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: "definitely wrong"})
	if err != nil || res.Pass || res.Token != "" {
		t.Fatalf("wrong answer: %+v %v", res, err)
	}
	if _, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID)}); !errors.Is(err, accessibility.ErrUsed) {
		t.Fatalf("answer after a wrong one: %v, want ErrUsed", err)
	}
	if f.tokens.Len() != 0 {
		t.Fatalf("%d pass tokens stored without a pass", f.tokens.Len())
	}

	is = f.issue(t, tok)
	if _, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID), Sitekey: challengetest.DemoSitekey}); !errors.Is(err, accessibility.ErrSitekeyMismatch) {
		t.Fatalf("other sitekey: %v", err)
	}
	f.clock.Advance(5 * time.Minute)
	if _, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID)}); !errors.Is(err, accessibility.ErrExpired) {
		t.Fatalf("answer after 5 minutes: %v, want ErrExpired", err)
	}
	for _, id := range []string{"", "c_0123456789abcdef0123456789abcdef", "a_0123456789abcdef0123456789abcdef", "a_0123456789ABCDEF0123456789ABCDEF", "a_../../x"} {
		if _, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: id, Answer: "11"}); !errors.Is(err, accessibility.ErrNotFound) {
			t.Errorf("id %q: %v, want ErrNotFound", id, err)
		}
	}
}

func TestIssueChecksTheSite(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	tok := f.token(t)
	cases := []struct {
		sitekey, host string
		want          error
	}{
		{"", "shop.example.com", accessibility.ErrBadRequest},
		{f.site.Sitekey, " ", accessibility.ErrBadRequest},
		{challengetest.DemoSitekey, "shop.example.com", accessibility.ErrUnknownSite},
		{f.site.Sitekey, "evil.example", accessibility.ErrHostNotAllowed},
	}
	for _, c := range cases {
		if _, err := f.svc.Issue(ctx, accessibility.IssueInput{Token: tok, Sitekey: c.sitekey, Host: c.host}); !errors.Is(err, c.want) {
			t.Errorf("Issue(%q, %q): %v, want %v", c.sitekey, c.host, err, c.want)
		}
	}
	// hCaptcha's test sitekeys get a question, and a right answer their test token.
	for sitekey, want := range map[string]string{
		token.TestSitekey:                      token.TestResponse,
		"30000000-ffff-ffff-ffff-000000000003": "30000000-aaaa-bbbb-cccc-000000000003",
	} {
		is, err := f.svc.Issue(ctx, accessibility.IssueInput{Token: tok, Sitekey: sitekey, Host: "localhost"})
		if err != nil {
			t.Fatalf("%s: %v", sitekey, err)
		}
		res, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID)})
		if err != nil || !res.Pass || res.Token != want {
			t.Fatalf("test sitekey %s: %+v %v", sitekey, res, err)
		}
	}
}

func TestSignUpRefusals(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	for _, bad := range []string{"", "no-at-sign", "Jane <jane@example.com>", "jane@localhost", strings.Repeat("a", 250) + "@example.com", "a@b.c\r\nBcc: x@y.z"} {
		err := f.svc.SignUp(ctx, accessibility.SignUpInput{Email: bad})
		var ve *privacy.ValidationError
		if !errors.Is(err, accessibility.ErrInvalidEmail) || !errors.As(err, &ve) {
			t.Errorf("SignUp(%q): %v, want ErrInvalidEmail with a reason", bad, err)
		}
	}
	if n := len(f.mailbox.All()); n != 0 {
		t.Fatalf("%d mails sent for invalid addresses", n)
	}
	f.store.PutSignupFunc = func(context.Context, accessibility.Signup) error { return nil }
	mailer := &accessibilitytest.Mailer{SendFunc: func(context.Context, string, string, string) error { return errors.New("ses down") }}
	svc, err := accessibility.New(accessibility.Deps{Store: f.store, Challenges: &accessibilitytest.Challenges{}, Mailer: mailer,
		Sites: challengetest.NewSites(), Signer: challengetest.Signer(), Tokens: f.tokens, Visual: f.visual, Risk: f.risk, Key: key, BaseURL: base, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SignUp(ctx, accessibility.SignUpInput{Email: jane}); !errors.Is(err, accessibility.ErrMail) {
		t.Fatalf("mail failure: %v, want ErrMail", err)
	}
}

func TestNewRefusesMissingPortsAndShortKeys(t *testing.T) {
	f := newFix(t)
	good := accessibility.Deps{Store: f.store, Challenges: &accessibilitytest.Challenges{}, Mailer: &accessibilitytest.Mailer{},
		Sites: challengetest.NewSites(), Signer: challengetest.Signer(), Tokens: f.tokens, Visual: f.visual, Risk: f.risk, Key: key, BaseURL: base}
	if _, err := accessibility.New(good); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]accessibility.Deps{
		"no store":  func() accessibility.Deps { d := good; d.Store = nil; return d }(),
		"short key": func() accessibility.Deps { d := good; d.Key = key[:16]; return d }(),
		"no base":   func() accessibility.Deps { d := good; d.BaseURL = ""; return d }(),
	} {
		if _, err := accessibility.New(d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A mail outage must not use up a person's sign-ups: a failed send gives the address's try
// back, so once mail works again the link still comes, however often it failed before.
func TestAFailedMailDoesNotUseUpTheAddresssSignUps(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	down := true
	box := &accessibilitytest.Mailbox{}
	working := accessibilitytest.NewMailer(box)
	mailer := &accessibilitytest.Mailer{SendFunc: func(ctx context.Context, to, subject, text string) error {
		if down {
			return errors.New("ses down")
		}
		return working.Send(ctx, to, subject, text)
	}}
	svc, err := accessibility.New(accessibility.Deps{Store: f.store, Challenges: &accessibilitytest.Challenges{}, Mailer: mailer,
		Sites: challengetest.NewSites(), Signer: challengetest.Signer(), Tokens: f.tokens, Visual: f.visual, Risk: f.risk, Key: key, BaseURL: base, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for range accessibility.MailsPerAddress + 2 {
		if err := svc.SignUp(ctx, accessibility.SignUpInput{Email: jane}); !errors.Is(err, accessibility.ErrMail) {
			t.Fatalf("sign-up while mail is down: %v, want ErrMail", err)
		}
	}
	down = false
	for i := range accessibility.MailsPerAddress {
		if err := svc.SignUp(ctx, accessibility.SignUpInput{Email: jane}); err != nil {
			t.Fatalf("sign-up %d once mail works: %v", i+1, err)
		}
	}
	var le *accessibility.LimitError
	if err := svc.SignUp(ctx, accessibility.SignUpInput{Email: jane}); !errors.As(err, &le) {
		t.Fatalf("one more than the limit: %v, want the per-address limit", err)
	}
	if n := len(box.All()); n != accessibility.MailsPerAddress {
		t.Fatalf("%d mails sent, want %d", n, accessibility.MailsPerAddress)
	}
}

// A text pass ends the visual challenge the visitor set aside as a visual pass would: used
// up, with a pass recorded for it (score PassScore, no reasons, its own task count and the
// time since it was issued). Otherwise a risk lookup of the response key — that visual
// challenge — would find it issued and never answered, which no visual pass shows. Another
// site's challenge, one already answered, one expired or a wrong text answer ends nothing.
func TestTextPassEndsTheSetAsideVisualChallenge(t *testing.T) {
	ctx := context.Background()
	visualOf := func(f *fix, id, sitekey string, used bool) challenge.Record {
		issued := f.clock.Now()
		r := challenge.Record{ID: id, Sitekey: sitekey, Host: "shop.example.com", IssuedAt: issued, ExpiresAt: issued.Add(5 * time.Minute),
			Used: used, Tasks: []challenge.TaskRecord{{ID: "t0"}, {ID: "t1"}, {ID: "t2"}}}
		if err := f.visual.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	const setAside = "c_0123456789abcdef0123456789abcdef"

	f := newFix(t)
	tok := f.token(t)
	visualOf(f, setAside, f.site.Sitekey, false)
	f.clock.Advance(40 * time.Second)
	is := f.issue(t, tok)
	res, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID),
		SetAside: setAside, IP: net.ParseIP("203.0.113.7")})
	if err != nil || !res.Pass {
		t.Fatalf("Answer = %+v %v", res, err)
	}
	if r, _ := f.visual.Record(setAside); !r.Used {
		t.Error("the set-aside visual challenge can still be answered after the text pass")
	}
	if len(f.recorded) != 1 {
		t.Fatalf("recorded %+v, want the set-aside challenge's pass", f.recorded)
	}
	got := f.recorded[0]
	if got.Outcome != challenge.OutcomePassed || got.ChallengeID != setAside || got.Sitekey != f.site.Sitekey ||
		got.Tasks != 3 || got.SolveTime != 40*time.Second || got.Assessment.Score != accessibility.PassScore ||
		len(got.Assessment.Reasons) != 0 || !got.IP.Equal(net.ParseIP("203.0.113.7")) || !got.At.Equal(f.clock.Now()) {
		t.Errorf("recorded %+v", got)
	}

	for name, c := range map[string]struct {
		sitekey string
		used    bool
		wrong   bool
		late    bool
	}{
		"another site's":       {sitekey: "10000000-ffff-ffff-ffff-000000000001"},
		"answered already":     {used: true},
		"expired":              {late: true},
		"after a wrong answer": {wrong: true},
	} {
		f := newFix(t)
		tok := f.token(t)
		sitekey := f.site.Sitekey
		if c.sitekey != "" {
			sitekey = c.sitekey
		}
		before := visualOf(f, setAside, sitekey, c.used)
		if c.late {
			f.clock.Advance(6 * time.Minute)
		}
		is := f.issue(t, tok)
		answer := f.answerOf(t, is.ID)
		if c.wrong {
			answer = "not the answer"
		}
		if _, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: answer, SetAside: setAside}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if after, _ := f.visual.Record(setAside); after.Used != before.Used || len(f.recorded) != 0 {
			t.Errorf("%s: used %v→%v, recorded %+v; want nothing ended", name, before.Used, after.Used, f.recorded)
		}
	}

	// Not a visual challenge id: refused before the question is used up.
	f = newFix(t)
	tok = f.token(t)
	is = f.issue(t, tok)
	if _, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID), SetAside: "a_" + strings.Repeat("0", 32)}); !errors.Is(err, accessibility.ErrBadRequest) {
		t.Fatalf("set_aside a text id: %v, want ErrBadRequest", err)
	}
	if res, err := f.svc.Answer(ctx, accessibility.AnswerInput{Token: tok, ID: is.ID, Answer: f.answerOf(t, is.ID)}); err != nil || !res.Pass {
		t.Fatalf("the question after a refused set_aside: %+v %v, want a pass", res, err)
	}
}
