package mail_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

var (
	_ privacy.Mailer = (*mail.SES)(nil)
	_ privacy.Mailer = (*mail.Outbox)(nil)
)

// fakeSES is a loopback server speaking SES v2's REST-JSON SendEmail.
func fakeSES(t *testing.T, handle func(w http.ResponseWriter, body map[string]any)) (*sesv2.Client, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" {
			t.Errorf("SES got %s %s", r.Method, r.URL.Path)
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			t.Error("request is not SigV4-signed")
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body %q: %v", raw, err)
		}
		handle(w, body)
	}))
	t.Cleanup(srv.Close)
	c := sesv2.New(sesv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), RetryMaxAttempts: 1,
	})
	return c, &calls
}

func TestSESSendsPlainTextFromTheSender(t *testing.T) {
	var got map[string]any
	client, _ := fakeSES(t, func(w http.ResponseWriter, body map[string]any) {
		got = body
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"MessageId":"0100018c-example"}`)
	})
	s, err := mail.NewSES(client, "crowdgate privacy <privacy@crowdgate.example>")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), "jane@example.com", "Your code 123456", "Grüße\ncode 123456"); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `{"Content":{"Simple":{"Body":{"Text":{"Charset":"UTF-8","Data":"Grüße\ncode 123456"}},"Subject":{"Charset":"UTF-8","Data":"Your code 123456"}}},` +
		`"Destination":{"ToAddresses":["jane@example.com"]},"FromEmailAddress":"crowdgate privacy \u003cprivacy@crowdgate.example\u003e"}`
	if string(b) != want {
		t.Fatalf("SendEmail body\n got %s\nwant %s", b, want)
	}
}

func TestSESErrorsDoNotCarryTheAddress(t *testing.T) {
	client, _ := fakeSES(t, func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", "MessageRejected")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"message":"Email address is not verified. The following identities failed the check in region US-EAST-1: jane@example.com"}`)
	})
	s, _ := mail.NewSES(client, "privacy@crowdgate.example")
	err := s.Send(context.Background(), "jane@example.com", "s", "t")
	if err == nil {
		t.Fatal("rejected message reported as sent")
	}
	if strings.Contains(err.Error(), "jane") || !strings.Contains(err.Error(), "MessageRejected") {
		t.Fatalf("error text %q", err)
	}
}

func TestRefusesUnsafeMessagesBeforeSending(t *testing.T) {
	client, calls := fakeSES(t, func(w http.ResponseWriter, _ map[string]any) { io.WriteString(w, `{}`) })
	s, _ := mail.NewSES(client, "privacy@crowdgate.example")
	box := mail.NewOutbox()
	for _, c := range []struct{ to, subject string }{
		{"jane@example.com, bob@example.com", "s"},
		{"Jane <jane@example.com>", "s"},
		{"not an address", "s"},
		{"jane@example.com", "code\r\nBcc: victim@example.com"},
	} {
		for name, m := range map[string]privacy.Mailer{"ses": s, "outbox": box} {
			if err := m.Send(context.Background(), c.to, c.subject, "t"); !errors.Is(err, mail.ErrInvalidMessage) {
				t.Errorf("%s: %q / %q: %v", name, c.to, c.subject, err)
			}
		}
	}
	if calls.Load() != 0 {
		t.Fatalf("%d calls reached SES", calls.Load())
	}
	if msgs, _ := box.Messages(); len(msgs) != 0 {
		t.Fatalf("outbox kept %d refused messages", len(msgs))
	}
	if _, err := mail.NewSES(client, "no address"); err == nil {
		t.Fatal("NewSES accepted a sender that is not an address")
	}
}

func TestFileOutboxSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	a, err := mail.NewFileOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, to := range []string{"one@example.com", "two@example.com", "One@Example.com"} {
		if err := a.Send(ctx, to, "hello "+to, "body"); err != nil {
			t.Fatal(err)
		}
	}
	b, err := mail.NewFileOutbox(dir) // another process, or the stack after a restart
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := b.Messages()
	if err != nil || len(msgs) != 3 || msgs[0].To != "one@example.com" || msgs[2].To != "One@Example.com" || msgs[1].Subject != "hello two@example.com" {
		t.Fatalf("messages %+v, %v", msgs, err)
	}

	h := b.Handler()
	get := func(target string) (int, []mail.Message) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		var body struct{ Messages []mail.Message }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body.Messages
	}
	if code, all := get("/_outbox"); code != 200 || len(all) != 3 || all[0].To != "One@Example.com" {
		t.Fatalf("GET /_outbox: %d %+v", code, all)
	}
	if code, some := get("/_outbox?to=one@example.com"); code != 200 || len(some) != 2 {
		t.Fatalf("filtered: %d %+v", code, some)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("DELETE", "/_outbox", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", w.Code)
	}
	if _, err := mail.NewFileOutbox(""); err == nil {
		t.Fatal("empty directory accepted")
	}
}

func TestMemoryOutboxListsNewestFirst(t *testing.T) {
	box := mail.NewOutbox()
	ctx := context.Background()
	for _, s := range []string{"first", "second"} {
		if err := box.Send(ctx, "jane@example.com", s, "body "+s); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	box.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/_outbox?to=JANE@example.com", nil))
	var body struct{ Messages []mail.Message }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
	if len(body.Messages) != 2 || body.Messages[0].Subject != "second" || body.Messages[1].Text != "body first" || body.Messages[0].ID == body.Messages[1].ID {
		t.Fatalf("messages %+v", body.Messages)
	}
}
