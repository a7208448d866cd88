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

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
)

// BenchmarkTextQuestionRoundTrip is one question and its right answer through the handler
// over the in-memory stores: authentication, rate limit, question, grading and the pass
// token. The token's hourly allowance is lifted so every iteration gets a question.
func BenchmarkTextQuestionRoundTrip(b *testing.B) {
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	f := newFix(b)
	f.store.TakeFunc = func(context.Context, accessibility.Counter, time.Time) (bool, time.Time, error) {
		return true, time.Time{}, nil
	}
	issueBody := `{"sitekey":"` + challengetest.DemoSitekey + `","host":"` + challengetest.DemoHostname + `","hl":"en"}`
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Origin", "https://"+challengetest.DemoHostname)
		req.AddCookie(&http.Cookie{Name: accessibility.CookieName, Value: evToken})
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := post("/1/accessibility/challenges", issueBody)
		var is struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &is); err != nil || rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		c, _ := f.chals.Get(is.ID)
		rec = post("/1/accessibility/challenges/"+is.ID+"/answers", `{"answer":"`+c.Answers[0]+`"}`)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"pass":true`) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
