// Package verify is the siteverify domain: it answers an integrator's "is this pass token
// genuine, fresh, for my site and unused?" exactly as hCaptcha's /siteverify does (DESIGN §6),
// without importing any AWS SDK.
//
// Cheap refusals come first: missing or malformed input, the test keys, and the token's own
// MAC and expiry are checked without any store call, so a flood of garbage tokens costs no
// database reads. Only then is the secret looked up and the token redeemed (single use).
package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/token"
)

// hCaptcha's error codes.
const (
	CodeMissingSecret         = "missing-input-secret"
	CodeInvalidSecret         = "invalid-input-secret"
	CodeMissingResponse       = "missing-input-response"
	CodeInvalidResponse       = "invalid-input-response"
	CodeExpiredResponse       = "expired-input-response"
	CodeAlreadySeen           = "already-seen-response"
	CodeBadRequest            = "bad-request"
	CodeMissingRemoteIP       = "missing-remoteip"
	CodeInvalidRemoteIP       = "invalid-remoteip"
	CodeSitekeyMismatch       = "sitekey-secret-mismatch"
	CodeNotUsingDummyPasscode = "not-using-dummy-passcode" // test secret, real token
	CodeNotUsingDummySecret   = "not-using-dummy-secret"   // test token, another secret
)

// TestHostname is the hostname hCaptcha reports for the test keys.
const TestHostname = "dummy-key-pass"

// Response is the siteverify answer in hCaptcha's JSON shape.
type Response struct {
	Success     bool     `json:"success"`
	ChallengeTS string   `json:"challenge_ts,omitempty"` // ChallengeTS(t)
	Hostname    string   `json:"hostname,omitempty"`
	Credit      bool     `json:"credit"`
	ErrorCodes  []string `json:"error-codes,omitempty"`
	// Score (0..1, higher = riskier) and ScoreReason are present for pass tokens.
	Score       *float64 `json:"score,omitempty"`
	ScoreReason []string `json:"score_reason,omitzero"`
}

// ChallengeTS formats t as hCaptcha's challenge_ts: ISO 8601 UTC with six fraction digits
// ("2026-11-30T19:30:00.000000Z"), which code that parses it by hCaptcha's layout expects.
// The fraction is always zero: a finer time of a pass tells an integrator nothing it needs.
func ChallengeTS(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05.000000Z")
}

// Failure is a Response with the given error codes.
func Failure(codes ...string) Response { return Response{ErrorCodes: codes} }

// TokenParser checks pass tokens (token.Signer).
type TokenParser interface {
	Parse(tok string, now time.Time) (token.Claims, error)
}

// Sites finds a site by its secret (account.Service): account.ErrInvalidSecret or
// account.ErrNotFound when there is none.
type Sites interface {
	SiteBySecret(ctx context.Context, secret string) (account.Site, error)
}

// Redeemer marks a token used exactly once (dynamo.Tokens, verifytest.Tokens):
// token.ErrAlreadyRedeemed, token.ErrNotFound or token.ErrExpired when it cannot. A call
// with the redemption's idempotency key (not empty) gets the record again until the token
// expires.
type Redeemer interface {
	Redeem(ctx context.Context, tokenID string, now time.Time, idempotencyKey string) (token.Record, error)
}

// Verifier answers siteverify requests.
type Verifier struct {
	Parser   TokenParser
	Sites    Sites
	Redeemer Redeemer
	Now      func() time.Time
}

// Verify answers one request. Protocol failures come back as a Response with error codes;
// the error is only for infrastructure failures (store unreachable), which have no
// hCaptcha code.
func (v *Verifier) Verify(ctx context.Context, r Request) (Response, error) {
	now := v.Now()
	var missing []string
	if r.Secret == "" {
		missing = append(missing, CodeMissingSecret)
	}
	if r.Response == "" {
		missing = append(missing, CodeMissingResponse)
	}
	if len(missing) > 0 {
		return Failure(missing...), nil
	}
	if r.RemoteIP != "" && !validIP(r.RemoteIP) {
		return Failure(CodeInvalidRemoteIP), nil
	}
	if r.IdempotencyKey != "" && !account.IsUUID(r.IdempotencyKey) {
		return Failure(CodeBadRequest), nil
	}

	// hCaptcha's test keys: the test secret verifies only the test tokens, and a test
	// token verifies only with the test secret; no store is involved. Each mismatch has
	// its own code, as on hCaptcha: a test token with any other secret, even a malformed
	// one, is not-using-dummy-secret.
	testKey, testToken := token.TestKeyByResponse(r.Response)
	testSecret := r.Secret == token.TestSecret
	switch {
	case testToken && !testSecret:
		return Failure(CodeNotUsingDummySecret), nil
	case testSecret && !testToken:
		return Failure(CodeNotUsingDummyPasscode), nil
	case testSecret:
		if r.Sitekey != "" && r.Sitekey != testKey.Sitekey {
			return Failure(CodeSitekeyMismatch), nil
		}
		resp := Response{Success: true, ChallengeTS: ChallengeTS(now), Hostname: TestHostname}
		if testKey.HasScore {
			resp.Score = &testKey.Score
		}
		return resp, nil
	}

	if !account.IsSecret(r.Secret) {
		return Failure(CodeInvalidSecret), nil
	}
	claims, err := v.Parser.Parse(r.Response, now)
	switch {
	case errors.Is(err, token.ErrExpired):
		return Failure(CodeExpiredResponse), nil
	case err != nil:
		return Failure(CodeInvalidResponse), nil
	}

	site, err := v.Sites.SiteBySecret(ctx, r.Secret)
	switch {
	case errors.Is(err, account.ErrNotFound), errors.Is(err, account.ErrInvalidSecret):
		return Failure(CodeInvalidSecret), nil
	case err != nil:
		return Response{}, fmt.Errorf("siteverify: look up secret: %w", err)
	}
	if r.Sitekey != "" && r.Sitekey != site.Sitekey {
		return Failure(CodeSitekeyMismatch), nil
	}
	if claims.Sitekey != site.Sitekey {
		return Failure(CodeInvalidResponse), nil
	}
	if site.RequireRemoteIP && r.RemoteIP == "" {
		return Failure(CodeMissingRemoteIP), nil
	}

	rec, err := v.Redeemer.Redeem(ctx, claims.ID, now, strings.ToLower(r.IdempotencyKey))
	switch {
	case errors.Is(err, token.ErrAlreadyRedeemed):
		return Failure(CodeAlreadySeen), nil
	case errors.Is(err, token.ErrExpired):
		return Failure(CodeExpiredResponse), nil
	case errors.Is(err, token.ErrNotFound):
		return Failure(CodeInvalidResponse), nil
	case err != nil:
		return Response{}, fmt.Errorf("siteverify: redeem token: %w", err)
	}
	if rec.Sitekey != site.Sitekey {
		return Failure(CodeInvalidResponse), nil
	}
	score := ReportedScore(rec.Score)
	reasons := rec.ScoreReasons
	if reasons == nil {
		reasons = []string{}
	}
	return Response{
		Success:     true,
		ChallengeTS: ChallengeTS(rec.ChallengeTS),
		Hostname:    rec.Hostname,
		Score:       &score,
		ScoreReason: reasons,
	}, nil
}

// ReportedScore is a risk score as siteverify reports it: to two decimals. That is ample
// for a threshold, and a score computed to full precision would let one fixed value (an
// accessibility pass's) single out the visitors who get it; rounded, it is the value
// most human visual passes get too.
func ReportedScore(s float64) float64 { return math.Round(s*100) / 100 }

// validIP accepts an IPv4 or IPv6 address without zone.
func validIP(s string) bool {
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.Zone() == ""
}

var (
	_ TokenParser = (*token.Signer)(nil)
	_ Sites       = (*account.Service)(nil)
)
