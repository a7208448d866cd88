package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	privacyhandler "github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/functions/privacyworker/handler"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// A compliance officer's walk through every request type with the documented routes alone
// (docs/API.md "Privacy API"): file, verify, approve, let the worker run, then read the
// subject's status view and the operator view with its audit log. Deadlines are the
// documented ones, the request ends completed with its report, the address is dropped and
// appears in no view or audit entry.
func TestEveryRequestTypeThroughTheDocumentedAPI(t *testing.T) {
	received := time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC) // a Monday; 07:30 on the 30th at UTC-12
	cases := []struct {
		typ, reg      string
		body          map[string]any
		ack, respond  string
		report        string // a store the report must name
		integratorsAt int    // integrators left after the run
	}{
		{typ: "access", reg: "ccpa", ack: "2026-12-14", respond: "2027-01-14", report: "package", integratorsAt: 1},
		{typ: "delete", reg: "ccpa", ack: "2026-12-14", respond: "2027-01-14", report: "accounts"},
		{typ: "correct", reg: "gdpr", ack: "2026-12-14", respond: "2026-12-30", report: "accounts", integratorsAt: 1,
			body: map[string]any{"corrections": []map[string]any{{"field": "name", "value": "Jane Q. Doe"}}}},
		{typ: "opt_out", reg: "ccpa", respond: "2026-12-21", report: "accounts", integratorsAt: 1},
		{typ: "child_delete", reg: "ccpa", ack: "2026-12-14", respond: "2027-01-14", report: "accounts"},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			ctx := context.Background()
			clock := privacytest.NewClock(received)
			w := newWorkerOn(t, clock)
			api := privacyhandler.New(privacyhandler.Deps{Privacy: w.svc, Now: clock.Now})
			call := func(method, path, bearer string, body any) (int, map[string]any) {
				t.Helper()
				var rd *bytes.Reader
				if body != nil {
					b, _ := json.Marshal(body)
					rd = bytes.NewReader(b)
				} else {
					rd = bytes.NewReader(nil)
				}
				req := httptest.NewRequest(method, path, rd)
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, req)
				var out map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &out)
				return rec.Code, out
			}

			filing := map[string]any{"email": "jane@example.com", "type": c.typ, "regulation": c.reg}
			for k, v := range c.body {
				filing[k] = v
			}
			status, filed := call(http.MethodPost, "/v1/privacy/requests", "", filing)
			if status != http.StatusAccepted {
				t.Fatalf("file: %d %v", status, filed)
			}
			id, _ := filed["id"].(string)
			status, verified := call(http.MethodPost, "/v1/privacy/requests/"+id+"/verify", "", map[string]any{"code": w.mail.LastCode("jane@example.com")})
			if status != http.StatusOK {
				t.Fatalf("verify: %d %v", status, verified)
			}
			secret, _ := verified["status_secret"].(string)
			view := verified["request"].(map[string]any)
			dl := view["deadlines"].(map[string]any)
			if view["status"] != "verified" || dl["respond_by"] != c.respond || (c.ack == "") != (dl["acknowledge_by"] == nil) || (c.ack != "" && dl["acknowledge_by"] != c.ack) {
				t.Errorf("verified view %v; want respond_by %s, acknowledge_by %q", view, c.respond, c.ack)
			}

			status, approved := call(http.MethodPost, "/v1/compliance/requests/"+id+"/approve", "", nil)
			if status != http.StatusOK || approved["queued"] != true {
				t.Fatalf("approve: %d %v", status, approved)
			}
			for ran := 0; ran < len(w.queue.Jobs()) && ran < 10; ran++ {
				msg := w.lastJob(t)
				resp, err := handler.New(w.handlerDeps())(ctx, msg)
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("worker: %+v, %v", resp, err)
				}
			}

			status, subj := call(http.MethodGet, "/v1/privacy/requests/"+id, secret, nil)
			if status != http.StatusOK || subj["status"] != "completed" || subj["closed_at"] == nil {
				t.Fatalf("subject's view after the run: %d %v", status, subj)
			}
			status, op := call(http.MethodGet, "/v1/compliance/requests/"+id, "", nil)
			if status != http.StatusOK {
				t.Fatalf("operator view: %d %v", status, op)
			}
			req := op["request"].(map[string]any)
			report, _ := req["report"].(map[string]any)
			if req["status"] != "completed" || report[c.report] == nil || req["overdue"] != false {
				t.Errorf("operator view: %v; want completed with a %s report", req, c.report)
			}
			if _, ok := req["corrections"]; ok {
				t.Errorf("corrections kept after completion: %v", req["corrections"])
			}
			var actions []string
			for _, e := range op["audit"].([]any) {
				actions = append(actions, e.(map[string]any)["action"].(string))
			}
			for _, want := range []string{"filed", "code_sent", "verified", "approved", "progress", "completed"} {
				if !slices.Contains(actions, want) {
					t.Errorf("audit %v lacks %s", actions, want)
				}
			}
			raw, _ := json.Marshal(op)
			if strings.Contains(strings.ToLower(string(raw)), "jane@example.com") {
				t.Errorf("the address is in the operator view or audit: %s", raw)
			}
			stored, err := w.store.Get(ctx, id)
			if err != nil || stored.Email != "" || stored.Details != "" || len(stored.Corrections) != 0 {
				t.Errorf("stored after completion: %+v, %v", stored, err)
			}
			if got := len(w.world.Integrators); got != c.integratorsAt {
				t.Errorf("%d integrators left, want %d", got, c.integratorsAt)
			}
		})
	}
}

// A denial and an extension through the documented routes: the subject's view shows the
// reason, its text and the note; the extension's date and reason; a denied request can be
// neither approved nor denied again, and its address is dropped.
func TestDenialAndExtensionThroughTheDocumentedAPI(t *testing.T) {
	clock := privacytest.NewClock(time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC))
	w := newWorkerOn(t, clock)
	api := privacyhandler.New(privacyhandler.Deps{Privacy: w.svc, Now: clock.Now})
	call := func(method, path, bearer string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		if body == nil {
			b = nil
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(b))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	file := func(email, typ string) (string, string) {
		t.Helper()
		status, filed := call(http.MethodPost, "/v1/privacy/requests", "", map[string]any{"email": email, "type": typ, "regulation": "gdpr"})
		if status != http.StatusAccepted {
			t.Fatalf("file: %d %v", status, filed)
		}
		id := filed["id"].(string)
		status, v := call(http.MethodPost, "/v1/privacy/requests/"+id+"/verify", "", map[string]any{"code": w.mail.LastCode(email)})
		if status != http.StatusOK {
			t.Fatalf("verify: %d %v", status, v)
		}
		return id, v["status_secret"].(string)
	}

	id, secret := file("stranger@example.org", "access")
	status, out := call(http.MethodPost, "/v1/compliance/requests/"+id+"/deny", "", map[string]any{"reason": "no_match", "note": "We hold no account under this address."})
	if status != http.StatusOK || out["notice_sent"] != true {
		t.Fatalf("deny: %d %v", status, out)
	}
	mails := w.mail.Sent()
	if last := mails[len(mails)-1]; last.To != "stranger@example.org" || !strings.Contains(last.Text, "We hold no account under this address.") {
		t.Errorf("denial notice %+v", last)
	}
	status, subj := call(http.MethodGet, "/v1/privacy/requests/"+id, secret, nil)
	if status != http.StatusOK || subj["status"] != "denied" || subj["deny_reason"] != "no_match" || subj["deny_reason_text"] == nil ||
		subj["deny_note"] != "We hold no account under this address." || subj["closed_at"] == nil {
		t.Errorf("subject's view of the denial: %d %v", status, subj)
	}
	for action, body := range map[string]any{"approve": nil, "deny": map[string]any{"reason": "other", "note": "again"}} {
		status, out := call(http.MethodPost, "/v1/compliance/requests/"+id+"/"+action, "", body)
		if status != http.StatusConflict || out["error"].(map[string]any)["code"] != "invalid_transition" {
			t.Errorf("%s a denied request: %d %v", action, status, out)
		}
	}
	if r, err := w.store.Get(context.Background(), id); err != nil || r.Email != "" {
		t.Errorf("denied request keeps the address: %+v, %v", r, err)
	}

	id, secret = file("jane@example.com", "access")
	status, out = call(http.MethodPost, "/v1/compliance/requests/"+id+"/extend", "", map[string]any{"reason": "Many records to gather."})
	if status != http.StatusOK || out["notice_sent"] != true {
		t.Fatalf("extend: %d %v", status, out)
	}
	status, subj = call(http.MethodGet, "/v1/privacy/requests/"+id, secret, nil)
	dl := subj["deadlines"].(map[string]any)
	if status != http.StatusOK || dl["extended_to"] != "2027-02-28" || dl["extension_reason"] != "Many records to gather." || dl["respond_by"] != "2026-12-30" {
		t.Errorf("subject's view of the extension: %d %v", status, subj)
	}
	status, out = call(http.MethodPost, "/v1/compliance/requests/"+id+"/extend", "", map[string]any{"reason": "Again."})
	if status != http.StatusConflict || out["error"].(map[string]any)["code"] != "already_extended" {
		t.Errorf("second extension: %d %v", status, out)
	}
}
