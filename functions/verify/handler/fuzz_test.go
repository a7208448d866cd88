package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/token"
	"github.com/crowdgate/crowdgate/shared/verify"
	"github.com/crowdgate/crowdgate/shared/web/webtest"
)

// siteverifyCodes are hCaptcha's error codes as docs/API.md lists them, without
// internal-error: the in-memory stores never fail, so a 500 is always a bug here.
var siteverifyCodes = map[string]bool{
	verify.CodeMissingSecret: true, verify.CodeInvalidSecret: true, verify.CodeMissingResponse: true,
	verify.CodeInvalidResponse: true, verify.CodeExpiredResponse: true, verify.CodeAlreadySeen: true,
	verify.CodeBadRequest: true, verify.CodeMissingRemoteIP: true, verify.CodeInvalidRemoteIP: true,
	verify.CodeSitekeyMismatch: true, verify.CodeNotUsingDummyPasscode: true, verify.CodeNotUsingDummySecret: true,
}

// eventBody returns the content type and decoded body of an events/verify file: their
// tokens are genuine and stored by newFix (evTokenIDs).
func eventBody(t testing.TB, name string) (string, string) {
	t.Helper()
	ev := platformtest.HTTPEvent(t, filepath.Join("..", "..", "..", "events", "verify", name))
	body := ev.Body
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	return ev.Headers["content-type"], body
}

// FuzzSiteverify drives POST /siteverify with any content type and body. Every answer is
// 200 in hCaptcha's shape with documented codes, and a refused request never uses up a
// token.
func FuzzSiteverify(f *testing.F) {
	for _, name := range []string{"verify-form.json", "verify-json.json", "verify-multipart.json", "verify-test-keys.json",
		"verify-expired.json", "verify-forged.json", "verify-sitekey-mismatch.json", "verify-invalid-remoteip.json",
		"verify-dummy-secret.json", "verify-bad-request.json"} {
		ct, body := eventBody(f, name)
		f.Add(ct, body)
	}
	const form = "application/x-www-form-urlencoded"
	ct, multipart := eventBody(f, "verify-multipart.json")
	_, tok := eventBody(f, "verify-json.json")
	for _, c := range []struct{ ct, body string }{
		{"", ""}, {form, "secret=" + evSecret + "&response=" + token.TestResponse},
		{"", "secret=" + token.TestSecret + "&response=" + token.TestResponse + "&sitekey=" + token.TestSitekey},
		{form, "secret=%zz"}, {form, "secret=a;b"}, {form, "secret=\xff\xfe&response=\xc3"},
		{form, "secret=" + evSecret + "&secret=0x0&response=" + strings.Repeat("P1_", 5000)},
		{form, "response=" + strings.Repeat("a", verify.MaxBody)},
		{"application/json", `{}`}, {"application/json", `null`}, {"application/json", `[]`}, {"application/json", `"s"`},
		{"application/json", `{"secret":5,"response":true}`}, {"application/json", `{"secret":null,"response":null}`},
		{"application/json", `{"secret":"a","secret":"b"}`}, {"application/json", `{"secret":"a"} {"response":"b"}`},
		{"application/json", `{"secret":"\u0000\ud800","response":"` + strings.Repeat("é", 3000) + `"}`},
		{"application/json", `{"remoteip":"fe80::1%eth0","secret":"0x` + strings.Repeat("f", 40) + `","response":"x"}`},
		{"application/json", tok},
		{"APPLICATION/JSON; charset=utf-8", tok},
		{"application/json; charset=", tok},
		{"multipart/form-data", multipart}, {"multipart/form-data; boundary=", multipart}, {"multipart/form-data; boundary=other", multipart},
		{ct, strings.Replace(multipart, `name="secret"`, `name="secret"; filename="a.txt"`, 1)},
		{ct, strings.TrimSuffix(multipart, "--\r\n")},
		{"text/plain", "secret=" + evSecret}, {";;;", "a=b"}, {"multipart/mixed; boundary=crowdgate", multipart},
	} {
		f.Add(c.ct, c.body)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		if !webtest.HeaderSafe(contentType) {
			t.Skip("not a value an HTTP header can carry")
		}
		fx := newFix(t)
		req := httptest.NewRequest(http.MethodPost, "/siteverify", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d, want 200 for every protocol outcome: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		var resp struct {
			Success     *bool     `json:"success"`
			Credit      *bool     `json:"credit"`
			ChallengeTS *string   `json:"challenge_ts"`
			Hostname    *string   `json:"hostname"`
			ErrorCodes  []string  `json:"error-codes"`
			Score       *float64  `json:"score"`
			ScoreReason *[]string `json:"score_reason"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Success == nil || resp.Credit == nil || *resp.Credit {
			t.Fatalf("not hCaptcha's shape: %s", rec.Body)
		}
		for _, c := range resp.ErrorCodes {
			if !siteverifyCodes[c] {
				t.Fatalf("undocumented error code %q: %s", c, rec.Body)
			}
		}
		if *resp.Success {
			if len(resp.ErrorCodes) != 0 || resp.ChallengeTS == nil || resp.Hostname == nil {
				t.Fatalf("success without its fields: %s", rec.Body)
			}
			return
		}
		if len(resp.ErrorCodes) == 0 || resp.ChallengeTS != nil || resp.Hostname != nil || resp.Score != nil || resp.ScoreReason != nil {
			t.Fatalf("failure without codes, or with a success field: %s", rec.Body)
		}
		for _, id := range evTokenIDs {
			if _, err := fx.tokens.Redeem(context.Background(), id, fx.now(), ""); errors.Is(err, token.ErrAlreadyRedeemed) {
				t.Fatalf("refused request (%v) used up token %s", resp.ErrorCodes, id)
			}
		}
	})
}
