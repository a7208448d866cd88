package handler_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// The requests the events/privacy files use: A (jane@example.com, delete, CCPA) is
// verified with status secret evSecretA; B (bob@example.org, access, GDPR) awaits its code
// evCodeB. Their ids, codes and secret come from scripted randomness.
const (
	evA          = "pr_0102030405060708090a0b0c0d0e0f10"
	evB          = "pr_2122232425262728292a2b2c2d2e2f30"
	evCodeA      = "246810"
	evCodeB      = "135790"
	evIntegrator = "7d2c1f0e-4b3a-4c5d-8e9f-0a1b2c3d4e5f"
	evOperator   = "arn:aws:sts::123456789012:assumed-role/crowdgate-compliance/jane"
)

var (
	evNow     = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)
	evSecretA = "pss_" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xAB}, 32))
	key       = bytes.Repeat([]byte{9}, 32)
)

// scripted hands out the given chunks to successive reads (each read must ask for exactly
// the chunk's length), then crypto/rand.
type scripted struct{ chunks [][]byte }

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return rand.Read(p)
	}
	c := s.chunks[0]
	if len(c) != len(p) {
		return 0, fmt.Errorf("scripted read of %d bytes, have %d", len(p), len(c))
	}
	s.chunks = s.chunks[1:]
	return copy(p, c), nil
}

func seq(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

func codeBytes(code int) []byte {
	return []byte{byte(code >> 24), byte(code >> 16), byte(code >> 8), byte(code)}
}

type fix struct {
	h      http.Handler
	svc    *privacy.Service
	store  *privacytest.Store
	outbox *mail.Outbox
	queue  *privacytest.Queue
	clock  *privacytest.Clock
}

func newFix(t *testing.T) *fix {
	t.Helper()
	f := &fix{outbox: mail.NewOutbox(), queue: &privacytest.Queue{}, clock: privacytest.NewClock(evNow)}
	f.store = &privacytest.Store{Now: f.clock.Now}
	svc, err := privacy.NewService(privacy.Deps{
		Store: f.store, Mailer: f.outbox, Queue: f.queue, Clock: f.clock, Key: key,
		Accounts: privacytest.Accounts{"jane@example.com": {evIntegrator}},
		Rand: &scripted{chunks: [][]byte{
			seq(0x01, 16), codeBytes(246810), // A: id, code
			bytes.Repeat([]byte{0xAB}, 32),   // A: status secret
			seq(0x21, 16), codeBytes(135790), // B: id, code
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	ctx := context.Background()
	a, err := svc.File(ctx, privacy.FileInput{Email: "jane@example.com", Type: privacy.TypeDelete, Regulation: privacy.CCPA})
	if err != nil || a.ID != evA {
		t.Fatalf("seed A: %+v, %v", a, err)
	}
	if _, secret, err := svc.Verify(ctx, evA, evCodeA); err != nil || secret != evSecretA {
		t.Fatalf("verify A: %q, %v", secret, err)
	}
	b, err := svc.File(ctx, privacy.FileInput{Email: "bob@example.org", Type: privacy.TypeAccess, Regulation: privacy.GDPR})
	if err != nil || b.ID != evB {
		t.Fatalf("seed B: %+v, %v", b, err)
	}
	f.clock.Set(evNow.Add(10 * time.Minute))
	f.h = handler.New(handler.Deps{Privacy: svc, Now: f.clock.Now})
	return f
}

func (f *fix) lastMail(t *testing.T, to string) mail.Message {
	t.Helper()
	msgs, err := f.outbox.Messages()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == to {
			return msgs[i]
		}
	}
	t.Fatalf("no mail to %s", to)
	return mail.Message{}
}

func (f *fix) do(t *testing.T, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, path, w.Body.String())
	}
	return w.Code, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	return v
}

// noPersonalData fails if an answer shows what only the privacy table should know.
func noPersonalData(t *testing.T, raw string) {
	t.Helper()
	for _, s := range []string{"jane@", "JANE@", "bob@", "new.person@", "subject_hash", "secret_hash", `"email"`, evCodeB} {
		if strings.Contains(raw, s) {
			t.Errorf("answer contains %q: %s", s, raw)
		}
	}
}

// TestEvents replays every events/privacy file through the Lambda adapter.
func TestEvents(t *testing.T) {
	type want struct {
		status int
		code   string // error code, or "" for success
		check  func(t *testing.T, f *fix, body map[string]any)
	}
	expect := map[string]want{
		"privacy-file.json": {202, "", func(t *testing.T, f *fix, b map[string]any) {
			id, _ := b["id"].(string)
			if !privacy.IsRequestID(id) || id == evA || id == evB || b["code_expires_in"] != 600.0 || b["code_attempts"] != 3.0 {
				t.Fatalf("answer %v", b)
			}
			if m := f.lastMail(t, "new.person@example.net"); !strings.Contains(m.Text, id) || !regexp.MustCompile(`code is \d{6}`).MatchString(m.Text) {
				t.Fatalf("mail %+v", m)
			}
		}},
		"privacy-file-correct.json": {202, "", func(t *testing.T, f *fix, b map[string]any) {
			r, _, err := f.svc.Get(context.Background(), b["id"].(string))
			if err != nil || r.Type != privacy.TypeCorrect || len(r.Corrections) != 2 || r.Corrections[0].Value != "Jane Q. Doe" {
				t.Fatalf("stored %+v, %v", r, err)
			}
		}},
		"privacy-file-duplicate.json": {202, "", func(t *testing.T, f *fix, b map[string]any) {
			if b["id"] != evA {
				t.Fatalf("duplicate answered %v, want the open request %s", b["id"], evA)
			}
			if _, ok := b["duplicate"]; ok {
				t.Fatal("the answer tells the filer that a request already existed")
			}
			if m := f.lastMail(t, "JANE@example.com"); !strings.Contains(m.Text, "already have an open request") {
				t.Fatalf("mail %q", m.Text)
			}
		}},
		"privacy-file-invalid-email.json":   {400, "invalid_email", nil},
		"privacy-file-invalid-type.json":    {400, "invalid_type", nil},
		"privacy-file-unknown-field.json":   {400, "invalid_json", nil},
		"privacy-file-wrong-json-type.json": {400, "invalid_json", nil},
		"privacy-file-too-large.json":       {413, "body_too_large", nil},
		"privacy-verify.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			secret, _ := b["status_secret"].(string)
			if field(b, "request", "status") != "verified" || field(b, "request", "id") != evB {
				t.Fatalf("answer %v", b)
			}
			if r, err := f.svc.Status(context.Background(), evB, secret); err != nil || r.Status != privacy.StatusVerified {
				t.Fatalf("the returned secret: %v", err)
			}
		}},
		"privacy-verify-wrong-code.json": {403, "wrong_code", func(t *testing.T, _ *fix, b map[string]any) {
			if msg, _ := field(b, "error", "message").(string); !strings.Contains(msg, "2 attempts left") {
				t.Fatalf("message %q", msg)
			}
		}},
		"privacy-verify-malformed-code.json": {400, "invalid_code", nil},
		"privacy-verify-unknown.json":        {404, "request_not_found", nil},
		"privacy-status.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			if b["id"] != evA || b["status"] != "verified" || b["type"] != "delete" || b["regulation"] != "ccpa" ||
				field(b, "deadlines", "acknowledge_by") != "2026-12-14" || field(b, "deadlines", "respond_by") != "2027-01-14" || !strings.HasPrefix(b["received_at"].(string), "2026-11-30T19:30:00") {
				t.Fatalf("status %v", b)
			}
			if _, ok := b["account_ids"]; ok {
				t.Fatal("the subject view shows account ids")
			}
		}},
		"privacy-status-no-secret.json":     {401, "unauthorized", nil},
		"privacy-status-other-request.json": {404, "request_not_found", nil},
		"privacy-end-user.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			holds, _ := b["we_hold"].([]any)
			if c, _ := b["collected_to_answer"].(string); !strings.HasPrefix(c, "Nothing") || len(holds) != 5 || !strings.Contains(b["your_requests"].(string), "Art. 11") {
				t.Fatalf("end-user answer %v", b)
			}
		}},
		"compliance-list.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			reqs, _ := b["requests"].([]any)
			if len(reqs) != 1 || field(reqs[0].(map[string]any), "id") != evA {
				t.Fatalf("list %v", b)
			}
			r := reqs[0].(map[string]any)
			if ids, _ := r["account_ids"].([]any); len(ids) != 1 || ids[0] != evIntegrator || r["overdue"] != false || r["verification_required"] != true {
				t.Fatalf("request %v", r)
			}
		}},
		"compliance-list-overdue.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			if reqs, ok := b["requests"].([]any); !ok || len(reqs) != 0 {
				t.Fatalf("overdue %v", b)
			}
		}},
		"compliance-list-invalid-status.json": {400, "invalid_status", nil},
		"compliance-list-unknown-param.json":  {400, "bad_request", nil},
		"compliance-get.json": {200, "", func(t *testing.T, _ *fix, b map[string]any) {
			var actions []string
			for _, e := range b["audit"].([]any) {
				actions = append(actions, e.(map[string]any)["action"].(string))
			}
			if field(b, "request", "id") != evA || strings.Join(actions, ",") != "filed,code_sent,verified" {
				t.Fatalf("get %v", b)
			}
		}},
		"compliance-get-unknown.json": {404, "request_not_found", nil},
		"compliance-approve.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			if field(b, "request", "status") != "in_progress" || b["queued"] != true {
				t.Fatalf("approve %v", b)
			}
			jobs := f.queue.Jobs()
			if len(jobs) != 1 || jobs[0].(privacy.Job).RequestID != evA {
				t.Fatalf("jobs %+v", jobs)
			}
			_, log, _ := f.svc.Get(context.Background(), evA)
			if last := log[len(log)-1]; last.Action != privacy.ActionApproved || last.Actor.ID != evOperator {
				t.Fatalf("audit entry %+v: the IAM principal is not recorded", last)
			}
		}},
		"compliance-approve-unverified.json": {409, "invalid_transition", nil},
		"compliance-deny.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			if field(b, "request", "status") != "denied" || field(b, "request", "deny_reason") != "insufficient_verification" || b["notice_sent"] != true {
				t.Fatalf("deny %v", b)
			}
			if m := f.lastMail(t, "bob@example.org"); !strings.Contains(m.Subject, "denied") {
				t.Fatalf("notice %+v", m)
			}
		}},
		"compliance-deny-invalid-reason.json": {400, "invalid_reason", nil},
		"compliance-extend.json": {200, "", func(t *testing.T, f *fix, b map[string]any) {
			if field(b, "request", "deadlines", "extended_to") != "2027-02-28" || b["notice_sent"] != true {
				t.Fatalf("extend %v", b)
			}
			if m := f.lastMail(t, "jane@example.com"); !strings.Contains(m.Text, "2027-02-28") {
				t.Fatalf("notice %+v", m)
			}
		}},
		"compliance-extend-no-reason.json": {400, "invalid_reason", nil},
	}
	files, _ := filepath.Glob("../../../events/privacy/*.json")
	if len(files) != len(expect)+1 { // + the preflight, checked below
		t.Fatalf("%d event files, %d expectations: keep them in step", len(files), len(expect)+1)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			ev := platformtest.HTTPEvent(t, file)
			f := newFix(t)
			resp, err := httpadapter.NewV2(f.h).ProxyWithContext(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if name == "privacy-preflight.json" {
				if resp.StatusCode != 204 || resp.Headers["Access-Control-Allow-Origin"] != "*" || !strings.Contains(resp.Headers["Access-Control-Allow-Headers"], "Authorization") {
					t.Fatalf("preflight %d %v", resp.StatusCode, resp.Headers)
				}
				return
			}
			w, ok := expect[name]
			if !ok {
				t.Fatal("no expectation for this event")
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatalf("body %q", resp.Body)
			}
			if resp.StatusCode != w.status || errCode(body) != w.code {
				t.Fatalf("got %d %s; want %d %q", resp.StatusCode, resp.Body, w.status, w.code)
			}
			if strings.HasPrefix(name, "privacy-") && resp.Headers["Access-Control-Allow-Origin"] != "*" {
				t.Errorf("browser route without CORS headers: %v", resp.Headers)
			}
			noPersonalData(t, resp.Body)
			if w.check != nil {
				w.check(t, f, body)
			}
		})
	}
}

// A data subject's whole journey over HTTP, as a privacy page would make it.
func TestSubjectJourney(t *testing.T) {
	f := newFix(t)
	status, filed := f.do(t, "POST", "/v1/privacy/requests", `{"email":"carol@example.net","type":"access","regulation":"ccpa"}`)
	if status != 202 {
		t.Fatalf("file %d %v", status, filed)
	}
	id := filed["id"].(string)
	code := regexp.MustCompile(`code is (\d{6})`).FindStringSubmatch(f.lastMail(t, "carol@example.net").Text)[1]
	if status, m := f.do(t, "GET", "/v1/privacy/requests/"+id, ""); status != 401 || errCode(m) != "unauthorized" {
		t.Fatalf("status before verification: %d %v", status, m)
	}
	status, verified := f.do(t, "POST", "/v1/privacy/requests/"+id+"/verify", `{"code":"`+code+`"}`)
	if status != 200 {
		t.Fatalf("verify %d %v", status, verified)
	}
	secret := verified["status_secret"].(string)
	// Any case of the scheme, as RFC 9110 allows.
	if status, m := f.do(t, "GET", "/v1/privacy/requests/"+id, "", "Authorization", "bearer "+secret); status != 200 || m["status"] != "verified" {
		t.Fatalf("status: %d %v", status, m)
	}
	if status, m := f.do(t, "POST", "/v1/compliance/requests/"+id+"/approve", `{}`); status != 200 {
		t.Fatalf("approve: %d %v", status, m)
	}
	if status, m := f.do(t, "GET", "/v1/privacy/requests/"+id, "", "Authorization", "Bearer "+secret); status != 200 || m["status"] != "in_progress" {
		t.Fatalf("status after approval: %d %v", status, m)
	}
	// Another subject's secret does not open this request, nor does this one open theirs.
	for _, c := range []struct{ id, secret string }{{id, evSecretA}, {evA, secret}} {
		if status, m := f.do(t, "GET", "/v1/privacy/requests/"+c.id, "", "Authorization", "Bearer "+c.secret); status != 404 || errCode(m) != "request_not_found" {
			t.Errorf("GET %s with another's secret: %d %v", c.id, status, m)
		}
	}
}

func TestHostileInput(t *testing.T) {
	f := newFix(t)
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/v1/privacy/requests/" + strings.ToUpper(evA), "", 401, "unauthorized"},
		{"POST", "/v1/privacy/requests/not-an-id/verify", `{"code":"123456"}`, 404, "request_not_found"},
		{"POST", "/v1/privacy/requests/" + evB + "/verify", `{"code":135790}`, 400, "invalid_json"},
		{"POST", "/v1/privacy/requests/" + evB + "/verify", `{"code":"135790"}{"code":"1"}`, 400, "invalid_json"},
		{"POST", "/v1/privacy/requests/" + evB + "/verify", `{"code":"` + evCodeA + `"}`, 403, "wrong_code"}, // A's code on B
		{"POST", "/v1/privacy/requests", `{"email":"x@example.com","type":"delete","regulation":"ccpa","corrections":"none"}`, 400, "invalid_json"},
		{"POST", "/v1/privacy/requests", `{"email":"x@example.com","type":"delete","regulation":"ccpa","details":"` + strings.Repeat("é", privacy.MaxDetailsRunes+1) + `"}`, 400, "invalid_details"},
		{"POST", "/v1/privacy/requests", `[]`, 400, "invalid_json"},
		{"POST", "/v1/compliance/requests/" + evA + "/approve", `{"force":true}`, 400, "invalid_json"},
		{"POST", "/v1/compliance/requests/" + evA + "/deny", strings.Repeat(" ", handler.MaxOperatorBody+1), 413, "body_too_large"},
		{"POST", "/v1/compliance/requests/" + evA + "/deny", `{"reason":"other"}`, 400, "invalid_note"},
		{"POST", "/v1/compliance/requests/" + evA + "/extend", `{"reason":["x"]}`, 400, "invalid_json"},
		{"POST", "/v1/compliance/requests/pr_zz/extend", `{"reason":"x"}`, 404, "request_not_found"},
		{"GET", "/v1/compliance/requests?limit=0", "", 400, "invalid_limit"},
		{"GET", "/v1/compliance/requests?limit=501", "", 400, "invalid_limit"},
		{"GET", "/v1/compliance/requests?limit=ten", "", 400, "invalid_limit"},
		{"GET", "/v1/compliance/requests?overdue=yes", "", 400, "invalid_overdue"},
		{"GET", "/v1/compliance/requests?type=erase", "", 400, "invalid_type"},
		{"GET", "/v1/compliance/requests?cursor=AAAA", "", 400, "invalid_cursor"},
		{"GET", "/v1/compliance/requests?status=verified&status=denied", "", 400, "bad_request"},
	} {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		if w.Code != c.status || (c.code != "" && errCode(m) != c.code) || w.Code >= 500 {
			t.Errorf("%s %s %.40q: %d %s; want %d %s", c.method, c.path, c.body, w.Code, w.Body.String(), c.status, c.code)
		}
	}
	// None of that changed anything.
	if r, _, _ := f.svc.Get(context.Background(), evA); r.Status != privacy.StatusVerified || !r.Deadlines.Extended.IsZero() {
		t.Fatalf("request A changed: %+v", r)
	}
}

// An approval may come without a body, but a body over the limit is refused like any other
// (413 body_too_large, docs/API.md) before anything is approved or queued.
func TestApproveRefusesOversizedBlankBody(t *testing.T) {
	f := newFix(t)
	status, m := f.do(t, "POST", "/v1/compliance/requests/"+evA+"/approve", strings.Repeat(" ", handler.MaxOperatorBody+1))
	if status != 413 || errCode(m) != "body_too_large" {
		t.Fatalf("approve with %d blank bytes: %d %v, want 413 body_too_large", handler.MaxOperatorBody+1, status, m)
	}
	if r, _, _ := f.svc.Get(context.Background(), evA); r.Status != privacy.StatusVerified || len(f.queue.Jobs()) != 0 {
		t.Fatalf("the refused approval went through: status %s, %d jobs queued", r.Status, len(f.queue.Jobs()))
	}
}

func TestListPagesAndOverdue(t *testing.T) {
	f := newFix(t)
	for i := range 3 {
		if status, m := f.do(t, "POST", "/v1/privacy/requests", fmt.Sprintf(`{"email":"u%d@example.net","type":"opt_out","regulation":"ccpa"}`, i)); status != 202 {
			t.Fatalf("file: %d %v", status, m)
		}
	}
	var ids []string
	next := ""
	for range 5 {
		status, m := f.do(t, "GET", "/v1/compliance/requests?limit=2&cursor="+next, "")
		if status != 200 {
			t.Fatalf("list: %d %v", status, m)
		}
		for _, r := range m["requests"].([]any) {
			ids = append(ids, r.(map[string]any)["id"].(string))
		}
		n, _ := m["next"].(string)
		if n == "" {
			break
		}
		next = n
	}
	if len(ids) != 5 || ids[3] != evB || ids[4] != evA {
		t.Fatalf("paged ids %v", ids)
	}
	// 16 business days later the opt-outs (15 business days) are overdue, the others not.
	f.clock.Set(evNow.AddDate(0, 0, 23))
	status, m := f.do(t, "GET", "/v1/compliance/requests?overdue=true&type=opt_out", "")
	if status != 200 || len(m["requests"].([]any)) != 3 {
		t.Fatalf("overdue opt-outs: %d %v", status, m)
	}
	if r := m["requests"].([]any)[0].(map[string]any); r["overdue"] != true || r["verification_required"] != false {
		t.Fatalf("overdue entry %v", r)
	}
	if status, m := f.do(t, "GET", "/v1/compliance/requests?overdue=true&type=delete", ""); status != 200 || len(m["requests"].([]any)) != 0 {
		t.Fatalf("overdue deletes: %d %v", status, m)
	}
}

// fakePrivacy fails with errors the handler cannot name, or names.
type fakePrivacy struct {
	handler.Privacy
	err error
}

var _ handler.Privacy = (*fakePrivacy)(nil)

func (f *fakePrivacy) File(context.Context, privacy.FileInput) (privacy.Filed, error) {
	return privacy.Filed{}, f.err
}

func (f *fakePrivacy) Approve(context.Context, string, privacy.Actor) (privacy.Request, error) {
	return privacy.Request{}, f.err
}

func TestErrorsAreMappedAndInternalOnesHidden(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{errors.New("table privacy-prod unreachable"), 500, "internal_error"},
		{fmt.Errorf("x: %w", privacy.ErrMail), 503, "mail_unavailable"},
		{fmt.Errorf("x: %w", privacy.ErrQueue), 503, "queue_unavailable"},
		{privacy.ErrTooManyCodes, 429, "too_many_requests"},
		{privacy.ErrConflict, 409, "conflict"},
	} {
		h := handler.New(handler.Deps{Privacy: &fakePrivacy{err: c.err}})
		for path, body := range map[string]string{
			"/v1/privacy/requests":                        `{"email":"a@example.com","type":"delete","regulation":"ccpa"}`,
			"/v1/compliance/requests/" + evA + "/approve": "",
		} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(body)))
			var m map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &m)
			if w.Code != c.status || errCode(m) != c.code || strings.Contains(w.Body.String(), "unreachable") {
				t.Errorf("%v on %s: %d %s", c.err, path, w.Code, w.Body.String())
			}
		}
	}
}

func TestWireRefusesMissingSettings(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(key)
	for _, c := range []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"no privacy key", config.Config{MailOutboxDir: t.TempDir()}, "PRIVACY_KEY"},
		{"short key", config.Config{MailOutboxDir: t.TempDir(), PrivacyKey: base64.StdEncoding.EncodeToString(key[:16])}, "at least 32 bytes"},
		{"key not base64", config.Config{MailOutboxDir: t.TempDir(), PrivacyKey: "not base64!"}, "not base64"},
		{"no sender", config.Config{PrivacyKey: good}, "MAIL_FROM"},
		{"bad sender", config.Config{PrivacyKey: good, MailFrom: "nobody"}, "MAIL_FROM"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Tables = map[string]string{"privacy": "p", "accounts": "a"}
			env := &platform.Env{Config: c.cfg, Queues: func(string) (platform.Sender, error) { return &privacytest.Queue{}, nil }}
			_, err := handler.Wire(context.Background(), env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Wire: %v, want an error naming %q", err, c.want)
			}
		})
	}
}
