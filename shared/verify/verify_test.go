package verify_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/verify"
)

var (
	now     = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)
	sitekey = "3f2e1d0c-9b8a-4766-a544-332211000fed"
	secret  = "0x" + strings.Repeat("ab", 20)
)

func mustSigner(t testing.TB, key string) *token.Signer {
	t.Helper()
	s, err := token.NewSigner("k1:" + base64.StdEncoding.EncodeToString([]byte(key)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeSites and fakeRedeemer fail the test when called unless a func is set.
type fakeSites struct {
	t            testing.TB
	siteBySecret func(secret string) (account.Site, error)
}

var _ verify.Sites = (*fakeSites)(nil)

func (f *fakeSites) SiteBySecret(_ context.Context, s string) (account.Site, error) {
	if f.siteBySecret == nil {
		f.t.Fatalf("unexpected secret lookup")
	}
	return f.siteBySecret(s)
}

type fakeRedeemer struct {
	t      testing.TB
	redeem func(id string, now time.Time, idempotencyKey string) (token.Record, error)
}

var _ verify.Redeemer = (*fakeRedeemer)(nil)

func (f *fakeRedeemer) Redeem(_ context.Context, id string, n time.Time, idempotencyKey string) (token.Record, error) {
	if f.redeem == nil {
		f.t.Fatalf("unexpected redemption")
	}
	return f.redeem(id, n, idempotencyKey)
}

func TestRefusalsThatNeedNoStore(t *testing.T) {
	signer := mustSigner(t, "0123456789abcdef0123456789abcdef")
	other := mustSigner(t, "fedcba9876543210fedcba9876543210")
	good, _, _ := signer.Issue(sitekey, now.Add(-10*time.Second))
	forged, _, _ := other.Issue(sitekey, now.Add(-10*time.Second))
	expired, _, _ := signer.Issue(sitekey, now.Add(-token.TTL))
	tampered := good[:len(good)-2] + "AA"
	if tampered == good {
		tampered = good[:len(good)-2] + "QA"
	}
	v := &verify.Verifier{Parser: signer, Sites: &fakeSites{t: t}, Redeemer: &fakeRedeemer{t: t}, Now: func() time.Time { return now }}
	cases := []struct {
		name string
		req  verify.Request
		want []string
	}{
		{"nothing", verify.Request{}, []string{verify.CodeMissingSecret, verify.CodeMissingResponse}},
		{"no secret", verify.Request{Response: good}, []string{verify.CodeMissingSecret}},
		{"no response", verify.Request{Secret: secret}, []string{verify.CodeMissingResponse}},
		{"malformed secret", verify.Request{Secret: "secret", Response: good}, []string{verify.CodeInvalidSecret}},
		{"malformed token", verify.Request{Secret: secret, Response: "P1_garbage"}, []string{verify.CodeInvalidResponse}},
		{"forged token", verify.Request{Secret: secret, Response: forged}, []string{verify.CodeInvalidResponse}},
		{"tampered token", verify.Request{Secret: secret, Response: tampered}, []string{verify.CodeInvalidResponse}},
		{"expired token", verify.Request{Secret: secret, Response: expired}, []string{verify.CodeExpiredResponse}},
		{"bad remoteip", verify.Request{Secret: secret, Response: good, RemoteIP: "300.1.1.1"}, []string{verify.CodeInvalidRemoteIP}},
		{"test token, real secret", verify.Request{Secret: secret, Response: token.TestResponse}, []string{verify.CodeNotUsingDummySecret}},
		{"test token, malformed secret", verify.Request{Secret: "not-the-dummy-secret", Response: token.TestResponse}, []string{verify.CodeNotUsingDummySecret}},
		{"test secret, real token", verify.Request{Secret: token.TestSecret, Response: good}, []string{verify.CodeNotUsingDummyPasscode}},
		{"test keys, other sitekey", verify.Request{Secret: token.TestSecret, Response: token.TestResponse, Sitekey: sitekey}, []string{verify.CodeSitekeyMismatch}},
	}
	for _, c := range cases {
		got, err := v.Verify(context.Background(), c.req)
		if err != nil || got.Success || !slices.Equal(got.ErrorCodes, c.want) {
			t.Errorf("%s: %+v, %v; want error codes %v", c.name, got, err, c.want)
		}
	}
	for range 3 {
		got, err := v.Verify(context.Background(), verify.Request{Secret: token.TestSecret, Response: token.TestResponse, Sitekey: token.TestSitekey, RemoteIP: "2001:db8::1"})
		if err != nil || !got.Success || got.Hostname != verify.TestHostname || got.ChallengeTS != "2026-11-30T19:30:00.000000Z" || got.Score != nil {
			t.Fatalf("test keys: %+v, %v", got, err)
		}
	}
}

// hCaptcha's enterprise test key sets verify with the test secret and report the score
// hCaptcha reports for them: 0 for the safe end user, 1 for the bot; no score_reason.
func TestEnterpriseTestKeys(t *testing.T) {
	v := &verify.Verifier{Parser: mustSigner(t, "0123456789abcdef0123456789abcdef"), Sites: &fakeSites{t: t}, Redeemer: &fakeRedeemer{t: t}, Now: func() time.Time { return now }}
	const (
		safeSitekey, safeToken = "20000000-ffff-ffff-ffff-000000000002", "20000000-aaaa-bbbb-cccc-000000000002"
		botSitekey, botToken   = "30000000-ffff-ffff-ffff-000000000003", "30000000-aaaa-bbbb-cccc-000000000003"
	)
	for _, c := range []struct {
		sitekey, response string
		score             float64
	}{{safeSitekey, safeToken, 0}, {"", safeToken, 0}, {botSitekey, botToken, 1}} {
		got, err := v.Verify(context.Background(), verify.Request{Secret: token.TestSecret, Response: c.response, Sitekey: c.sitekey})
		if err != nil || !got.Success || got.Hostname != verify.TestHostname || got.Score == nil || *got.Score != c.score || got.ScoreReason != nil {
			t.Errorf("%s with sitekey %q: %+v, %v; want success with score %v", c.response, c.sitekey, got, err, c.score)
		}
	}
	for _, c := range []struct {
		req  verify.Request
		want string
	}{
		{verify.Request{Secret: secret, Response: botToken}, verify.CodeNotUsingDummySecret},
		{verify.Request{Secret: token.TestSecret, Response: botToken, Sitekey: safeSitekey}, verify.CodeSitekeyMismatch},
		{verify.Request{Secret: token.TestSecret, Response: token.TestResponse, Sitekey: botSitekey}, verify.CodeSitekeyMismatch},
	} {
		got, err := v.Verify(context.Background(), c.req)
		if err != nil || got.Success || !slices.Equal(got.ErrorCodes, []string{c.want}) {
			t.Errorf("%+v: %+v, %v; want %s", c.req, got, err, c.want)
		}
	}
}

func TestOrderOfStoreChecks(t *testing.T) {
	signer := mustSigner(t, "0123456789abcdef0123456789abcdef")
	tok, claims, _ := signer.Issue(sitekey, now.Add(-5*time.Second))
	site := account.Site{Sitekey: sitekey, RequireRemoteIP: true}
	redeemed := 0
	v := &verify.Verifier{
		Parser: signer,
		Sites: &fakeSites{t: t, siteBySecret: func(s string) (account.Site, error) {
			if s != secret {
				return account.Site{}, account.ErrNotFound
			}
			return site, nil
		}},
		Redeemer: &fakeRedeemer{t: t, redeem: func(id string, n time.Time, _ string) (token.Record, error) {
			redeemed++
			if id != claims.ID || !n.Equal(now) {
				t.Fatalf("Redeem(%q, %v)", id, n)
			}
			return token.Record{ID: id, Sitekey: sitekey, Hostname: "shop.example.com", ChallengeTS: now.Add(-5500 * time.Millisecond), Score: 0.125, ScoreReasons: []string{"fast_solve"}}, nil
		}},
		Now: func() time.Time { return now },
	}
	ctx := context.Background()
	for name, c := range map[string]struct {
		req  verify.Request
		want string
	}{
		"unknown secret":   {verify.Request{Secret: "0x" + strings.Repeat("0", 39) + "1", Response: tok, RemoteIP: "192.0.2.1"}, verify.CodeInvalidSecret},
		"sitekey mismatch": {verify.Request{Secret: secret, Response: tok, RemoteIP: "192.0.2.1", Sitekey: "00000000-0000-4000-8000-000000000000"}, verify.CodeSitekeyMismatch},
		"missing remoteip": {verify.Request{Secret: secret, Response: tok}, verify.CodeMissingRemoteIP},
	} {
		got, err := v.Verify(ctx, c.req)
		if err != nil || got.Success || !slices.Equal(got.ErrorCodes, []string{c.want}) {
			t.Errorf("%s: %+v, %v; want %s", name, got, err, c.want)
		}
	}
	if redeemed != 0 {
		t.Fatal("a refused request consumed the token")
	}
	got, err := v.Verify(ctx, verify.Request{Secret: secret, Response: tok, RemoteIP: "192.0.2.1", Sitekey: sitekey})
	if err != nil || !got.Success || got.Hostname != "shop.example.com" || got.ChallengeTS != "2026-11-30T19:29:54.000000Z" ||
		got.Score == nil || *got.Score != 0.13 || // 0.125, to two decimals
		!slices.Equal(got.ScoreReason, []string{"fast_solve"}) || len(got.ErrorCodes) != 0 {
		t.Fatalf("pass: %+v, %v", got, err)
	}

	otherSite, _, _ := signer.Issue("11111111-2222-4333-8444-555555555555", now)
	if got, _ := v.Verify(ctx, verify.Request{Secret: secret, Response: otherSite, RemoteIP: "192.0.2.1"}); !slices.Equal(got.ErrorCodes, []string{verify.CodeInvalidResponse}) {
		t.Fatalf("token of another site: %+v", got)
	}
	if redeemed != 1 {
		t.Fatalf("%d redemptions, want 1", redeemed)
	}
}

func TestRedeemOutcomes(t *testing.T) {
	signer := mustSigner(t, "0123456789abcdef0123456789abcdef")
	tok, _, _ := signer.Issue(sitekey, now)
	boom := errors.New("store down")
	for _, c := range []struct {
		err  error
		rec  token.Record
		want string
	}{
		{token.ErrAlreadyRedeemed, token.Record{}, verify.CodeAlreadySeen},
		{token.ErrExpired, token.Record{}, verify.CodeExpiredResponse},
		{token.ErrNotFound, token.Record{}, verify.CodeInvalidResponse},
		{nil, token.Record{Sitekey: "11111111-2222-4333-8444-555555555555"}, verify.CodeInvalidResponse},
	} {
		v := &verify.Verifier{Parser: signer, Now: func() time.Time { return now },
			Sites:    &fakeSites{t: t, siteBySecret: func(string) (account.Site, error) { return account.Site{Sitekey: sitekey}, nil }},
			Redeemer: &fakeRedeemer{t: t, redeem: func(string, time.Time, string) (token.Record, error) { return c.rec, c.err }}}
		got, err := v.Verify(context.Background(), verify.Request{Secret: secret, Response: tok})
		if err != nil || !slices.Equal(got.ErrorCodes, []string{c.want}) {
			t.Errorf("Redeem error %v: %+v, %v; want %s", c.err, got, err, c.want)
		}
	}
	v := &verify.Verifier{Parser: signer, Now: func() time.Time { return now },
		Sites:    &fakeSites{t: t, siteBySecret: func(string) (account.Site, error) { return account.Site{Sitekey: sitekey}, nil }},
		Redeemer: &fakeRedeemer{t: t, redeem: func(string, time.Time, string) (token.Record, error) { return token.Record{}, boom }}}
	if _, err := v.Verify(context.Background(), verify.Request{Secret: secret, Response: tok}); !errors.Is(err, boom) {
		t.Fatalf("store failure: %v, want it passed on", err)
	}
	v.Sites = &fakeSites{t: t, siteBySecret: func(string) (account.Site, error) { return account.Site{}, boom }}
	if _, err := v.Verify(context.Background(), verify.Request{Secret: secret, Response: tok}); !errors.Is(err, boom) {
		t.Fatalf("lookup failure: %v, want it passed on", err)
	}
}

func TestResponseJSONShape(t *testing.T) {
	enc := func(r verify.Response) map[string]any {
		b, _ := json.Marshal(r)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	fail := enc(verify.Failure(verify.CodeAlreadySeen))
	if len(fail) != 3 || fail["success"] != false || fail["credit"] != false || len(fail["error-codes"].([]any)) != 1 {
		t.Fatalf("failure JSON %v: want success, credit, error-codes only", fail)
	}
	zero := 0.0
	pass := enc(verify.Response{Success: true, ChallengeTS: "2026-11-30T19:30:00Z", Hostname: "h", Score: &zero, ScoreReason: []string{}})
	if _, ok := pass["error-codes"]; ok {
		t.Fatal("pass JSON has error-codes")
	}
	if pass["score"] != 0.0 || pass["score_reason"] == nil {
		t.Fatalf("pass JSON %v: a zero score and empty reasons must still be present", pass)
	}
}

// When several checks fail, the first in docs/API.md's order answers, alone: nothing about
// a secret or sitekey reaches a caller without a valid secret, and no token is used up.
func TestSeveralFailuresAnswerTheFirstInTheDocumentedOrder(t *testing.T) {
	signer := mustSigner(t, "0123456789abcdef0123456789abcdef")
	good, _, _ := signer.Issue(sitekey, now.Add(-5*time.Second))
	expired, _, _ := signer.Issue(sitekey, now.Add(-token.TTL))
	foreign, _, _ := signer.Issue("11111111-2222-4333-8444-555555555555", now.Add(-5*time.Second))
	unknown := "0x" + strings.Repeat("cd", 20)
	v := &verify.Verifier{
		Parser: signer,
		Sites: &fakeSites{t: t, siteBySecret: func(s string) (account.Site, error) {
			if s != secret {
				return account.Site{}, account.ErrNotFound
			}
			return account.Site{Sitekey: sitekey, RequireRemoteIP: true}, nil
		}},
		Redeemer: &fakeRedeemer{t: t},
		Now:      func() time.Time { return now },
	}
	const otherSitekey = "00000000-0000-4000-8000-000000000000"
	for _, c := range []struct {
		name string
		req  verify.Request
		want string
	}{
		{"no response, bad remoteip", verify.Request{Secret: "x", RemoteIP: "999.1.1.1"}, verify.CodeMissingResponse},
		{"bad remoteip, malformed secret", verify.Request{Secret: "x", Response: good, RemoteIP: "999.1.1.1"}, verify.CodeInvalidRemoteIP},
		{"bad idempotency key, test secret with a real token", verify.Request{Secret: token.TestSecret, Response: good, IdempotencyKey: "k"}, verify.CodeBadRequest},
		{"malformed secret, forged token", verify.Request{Secret: "0xnope", Response: "P1_x.y"}, verify.CodeInvalidSecret},
		{"expired token, unknown secret", verify.Request{Secret: unknown, Response: expired, Sitekey: otherSitekey}, verify.CodeExpiredResponse},
		{"unknown secret, other sitekey", verify.Request{Secret: unknown, Response: good, Sitekey: otherSitekey}, verify.CodeInvalidSecret},
		{"other sitekey, another site's token", verify.Request{Secret: secret, Response: foreign, Sitekey: otherSitekey}, verify.CodeSitekeyMismatch},
		{"malformed sitekey", verify.Request{Secret: secret, Response: good, RemoteIP: "192.0.2.1", Sitekey: "not-a-sitekey"}, verify.CodeSitekeyMismatch},
		{"another site's token, no remoteip", verify.Request{Secret: secret, Response: foreign}, verify.CodeInvalidResponse},
	} {
		got, err := v.Verify(context.Background(), c.req)
		if err != nil || got.Success || !slices.Equal(got.ErrorCodes, []string{c.want}) {
			t.Errorf("%s: %+v, %v; want only %s", c.name, got, err, c.want)
		}
	}
}
