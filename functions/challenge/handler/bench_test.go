package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/crowdgate/crowdgate/functions/challenge/handler"
	verifyhandler "github.com/crowdgate/crowdgate/functions/verify/handler"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
)

// benchEnv is the in-memory environment with the real S3 presigner and link cache, as
// Wire builds them (signing is local computation, and without the cache it is most of
// the cost of issuing: 19 links per challenge).
func benchEnv() *challengetest.Env {
	e := challengetest.NewEnv()
	client := s3.New(s3.Options{
		Region: "eu-central-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String("http://127.0.0.1:1"), UsePathStyle: true,
	})
	e.Deps.Media = blob.NewLinks(blob.Bucket{Store: blob.New(client), Name: "media"}, time.Minute)
	return e
}

func BenchmarkIssueChallenge(b *testing.B) {
	e := benchEnv()
	h := handler.New(handler.Deps{Deps: e.Deps})
	body := `{"sitekey":"` + e.Sitekey + `","host":"` + e.Hostname + `","hl":"de","telemetry":{"v":1}}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/1/challenges", strings.NewReader(body))
		req.RemoteAddr = "203.0.113.77:4711"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkAnswerChallenge(b *testing.B) {
	// Request logs go nowhere: the benchmark measures the handler, not stderr.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := benchEnv()
	svc := challenge.New(e.Deps)
	h := handler.New(handler.Deps{Deps: e.Deps})
	// Challenges are issued before the clock starts; each iteration answers a fresh one
	// correctly (the expensive path: grading, token, risk hook, salt, queue messages).
	type prepared struct{ id, body string }
	items := make([]prepared, b.N)
	for i := range items {
		res, err := svc.Issue(context.Background(), challenge.IssueRequest{Sitekey: e.Sitekey, Host: e.Hostname})
		if err != nil {
			b.Fatal(err)
		}
		rec, _ := e.Store.Record(res.Challenge.ID)
		answers := []map[string]any{}
		for _, a := range challengetest.Solve(rec, true) {
			if a.Selected != nil {
				answers = append(answers, map[string]any{"task": a.Task, "selected": a.Selected})
			} else {
				answers = append(answers, map[string]any{"task": a.Task, "choice": a.Choice})
			}
		}
		body, _ := json.Marshal(map[string]any{"sitekey": e.Sitekey, "answers": answers, "telemetry": map[string]any{"v": 1}})
		items[i] = prepared{res.Challenge.ID, string(body)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/1/challenges/"+items[i].id+"/answers", strings.NewReader(items[i].body))
		req.RemoteAddr = "203.0.113.77:4711"
		req.Header.Set("User-Agent", "Mozilla/5.0 bench")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"pass":true`) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkCaptchaPathOnDynamoDB is one visitor's whole CAPTCHA path through the wired
// functions over DynamoDB Local (gofakes3 for the media links, in-process queues): the
// challenge function issues a challenge and grades its right answer, then the verify
// function redeems the token with the site secret. Each visitor comes from an address of
// its own; solving (a read of the stored challenge) is outside the timings. It reports
// visitors/s and the milliseconds of each request.
//
//	unshare -rn sh -c 'ip link set lo up && CROWDGATE_ISOLATED_NET=1 go test -run "^$" -bench CaptchaPath -benchtime 200x ./functions/challenge/handler/'
func BenchmarkCaptchaPathOnDynamoDB(b *testing.B) {
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	w := newWired(b)
	verify, err := verifyhandler.Wire(context.Background(), w.env)
	if err != nil {
		b.Fatal(err)
	}
	serve := func(h http.Handler, req *http.Request, ip int) *httptest.ResponseRecorder {
		req.RemoteAddr = fmt.Sprintf("198.51.%d.%d:4711", ip/250%250, ip%250+1)
		req.Header.Set("User-Agent", "Mozilla/5.0 bench")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	var issue, answer, siteverify time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		rec := serve(w.h, httptest.NewRequest(http.MethodPost, "/1/challenges",
			strings.NewReader(`{"sitekey":"`+w.site.Sitekey+`","host":"shop.example","hl":"en"}`)), i)
		issue += time.Since(t0)
		if rec.Code != 200 {
			b.Fatalf("issue: %d %s", rec.Code, rec.Body)
		}
		var c struct {
			Challenge struct {
				ID string `json:"id"`
			} `json:"challenge"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		body := w.solve(b, c.Challenge.ID)
		b.StartTimer()

		t0 = time.Now()
		rec = serve(w.h, httptest.NewRequest(http.MethodPost, "/1/challenges/"+c.Challenge.ID+"/answers", strings.NewReader(body)), i)
		answer += time.Since(t0)
		var pass struct {
			Pass  bool   `json:"pass"`
			Token string `json:"token"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &pass); err != nil || rec.Code != 200 || !pass.Pass {
			b.Fatalf("answer: %d %s", rec.Code, rec.Body)
		}

		t0 = time.Now()
		req := httptest.NewRequest(http.MethodPost, "/siteverify", strings.NewReader(url.Values{"secret": {w.secret}, "response": {pass.Token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec = serve(verify, req, i)
		siteverify += time.Since(t0)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"success":true`) {
			b.Fatalf("siteverify: %d %s", rec.Code, rec.Body)
		}
	}
	total := issue + answer + siteverify
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
	b.ReportMetric(float64(b.N)/total.Seconds(), "visitors/s")
	b.ReportMetric(ms(issue), "issue-ms")
	b.ReportMetric(ms(answer), "answer-ms")
	b.ReportMetric(ms(siteverify), "siteverify-ms")
}
