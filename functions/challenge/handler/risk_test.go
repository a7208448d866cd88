package handler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/challenge/handler"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/web"
)

func serveChallenge(t *testing.T, d challenge.Deps, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	h := web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), handler.New(handler.Deps{Deps: d}))
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "198.51.100.4:5000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRefusalIs429TryLaterWithRetryAfter(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Risk = &challengetest.Risk{AssessFunc: func(context.Context, challenge.RiskInput) (challenge.Assessment, error) {
		return challenge.Assessment{Score: 0.9, RetryAfter: 150500 * time.Millisecond}, nil
	}}
	rec := serveChallenge(t, e.Deps, http.MethodPost, "/1/challenges", `{"sitekey":"`+e.Sitekey+`","host":"`+e.Hostname+`"}`)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "151" || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			RequestID  string `json:"request_id"`
			RetryAfter int    `json:"retry_after"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != "try_later" || body.Error.RetryAfter != 151 || body.Error.RequestID == "" || body.Error.Message == "" {
		t.Fatalf("body %s", rec.Body)
	}
}

func TestFailedAnswerFromABlockedAddressIsRefused(t *testing.T) {
	f := newFix(t)
	f.env.Deps.Risk = &challengetest.Risk{AssessFunc: func(_ context.Context, in challenge.RiskInput) (challenge.Assessment, error) {
		if in.Stage == challenge.RiskAnswer && !in.Passed {
			return challenge.Assessment{RetryAfter: 4 * time.Minute}, nil
		}
		return challenge.Assessment{}, nil
	}}
	f.h = web.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), handler.New(handler.Deps{Deps: f.env.Deps}))
	r := f.invoke(t, "answer-fail.json")
	if r.status != 429 || r.headers["Retry-After"] != "240" {
		t.Fatalf("%d %v %s", r.status, r.headers, r.body)
	}
	// The challenge is used up all the same: the bot cannot try it again.
	if rec, _ := f.env.Store.Record(fixtureID); !rec.Used {
		t.Fatal("refused answer left the challenge usable")
	}
}

func TestMalformedTelemetryNamesTheField(t *testing.T) {
	e := challengetest.NewEnv()
	rec := serveChallenge(t, e.Deps, http.MethodPost, "/1/challenges",
		`{"sitekey":"`+e.Sitekey+`","host":"`+e.Hostname+`","telemetry":{"v":1,"k":[[10,5],[3]]}}`)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"bad_request"`) || !strings.Contains(rec.Body.String(), "k[1]") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestExtraGridsReachTheWidget(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Risk = &challengetest.Risk{AssessFunc: func(context.Context, challenge.RiskInput) (challenge.Assessment, error) {
		return challenge.Assessment{Score: 0.85, ExtraGrids: 2}, nil
	}}
	rec := serveChallenge(t, e.Deps, http.MethodPost, "/1/challenges", `{"sitekey":"`+e.Sitekey+`","host":"`+e.Hostname+`"}`)
	c := decodeChallenge(t, rec.Body.Bytes())
	kinds := []string{}
	for _, task := range c.Challenge.Tasks {
		kinds = append(kinds, task.Kind)
	}
	if strings.Join(kinds, ",") != "image_grid,image_grid,image_grid,image_grid,yes_no" || c.Challenge.Prompt != "Please answer 5 questions" {
		t.Fatalf("tasks %v prompt %q", kinds, c.Challenge.Prompt)
	}
}
