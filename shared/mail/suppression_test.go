package mail_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

var (
	_ privacy.SuppressionList = (*mail.SESSuppressions)(nil)
	_ privacy.SuppressionList = (*mail.Outbox)(nil)
)

// sesList is a loopback SES v2 account-level suppression list:
// GET and DELETE /v2/email/suppression/addresses/{address}, as REST-JSON.
type sesList struct {
	listed map[string]string // address → GetSuppressedDestination response body
	fail   string            // an error type every call fails with
	calls  []string
}

func (l *sesList) client(t *testing.T) *sesv2.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, ok := strings.CutPrefix(r.URL.Path, "/v2/email/suppression/addresses/")
		if !ok {
			t.Errorf("SES got %s %s", r.Method, r.URL.Path)
		}
		l.calls = append(l.calls, r.Method+" "+addr)
		w.Header().Set("Content-Type", "application/json")
		body, listed := l.listed[addr]
		switch {
		case l.fail != "":
			w.Header().Set("X-Amzn-Errortype", l.fail)
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"message":"Too many requests for `+addr+`"}`)
		case !listed:
			w.Header().Set("X-Amzn-Errortype", "NotFoundException")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"Email address `+addr+` does not exist on your suppression list."}`)
		case r.Method == http.MethodGet:
			io.WriteString(w, body)
		case r.Method == http.MethodDelete:
			delete(l.listed, addr)
			io.WriteString(w, `{}`)
		default:
			t.Errorf("SES got %s %s", r.Method, r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	return sesv2.New(sesv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), RetryMaxAttempts: 1,
	})
}

func TestSESSuppressionListLookUpAndRemoval(t *testing.T) {
	ctx := context.Background()
	l := &sesList{listed: map[string]string{
		"jane@example.com": `{"SuppressedDestination":{"EmailAddress":"jane@example.com","Reason":"BOUNCE","LastUpdateTime":1741064767,"Attributes":{"MessageId":"m-1"}}}`,
	}}
	s := mail.NewSESSuppressions(l.client(t))

	got, listed, err := s.Suppressed(ctx, "jane@example.com")
	want := privacy.Suppression{Reason: "BOUNCE", Since: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}
	if err != nil || !listed || got.Reason != want.Reason || !got.Since.Equal(want.Since) {
		t.Fatalf("Suppressed = %+v, %v, %v; want %+v", got, listed, err, want)
	}
	if _, listed, err := s.Suppressed(ctx, "bob@example.org"); err != nil || listed {
		t.Fatalf("an address SES does not list (NotFoundException): %v, %v", listed, err)
	}
	if removed, err := s.Unsuppress(ctx, "jane@example.com"); err != nil || !removed {
		t.Fatalf("Unsuppress = %v, %v", removed, err)
	}
	if _, ok := l.listed["jane@example.com"]; ok {
		t.Fatal("the address is still listed")
	}
	// Removing what is not listed is success: a rerun of an erasure must not fail.
	if removed, err := s.Unsuppress(ctx, "jane@example.com"); err != nil || removed {
		t.Fatalf("second Unsuppress = %v, %v", removed, err)
	}
}

func TestSESSuppressionErrorsDoNotCarryTheAddress(t *testing.T) {
	ctx := context.Background()
	l := &sesList{fail: "TooManyRequestsException"}
	s := mail.NewSESSuppressions(l.client(t))
	_, _, gerr := s.Suppressed(ctx, "jane@example.com")
	_, derr := s.Unsuppress(ctx, "jane@example.com")
	for _, err := range []error{gerr, derr} {
		if err == nil || strings.Contains(err.Error(), "jane") || !strings.Contains(err.Error(), "TooManyRequestsException") {
			t.Fatalf("error %v", err)
		}
	}
	for _, bad := range []string{"", "Jane <jane@example.com>", "a@example.com, b@example.com"} {
		if _, _, err := s.Suppressed(ctx, bad); err == nil {
			t.Errorf("looked up %q", bad)
		}
		if _, err := s.Unsuppress(ctx, bad); err == nil {
			t.Errorf("removed %q", bad)
		}
	}
	if len(l.calls) != 2 {
		t.Fatalf("SES calls %v: malformed addresses must not reach SES", l.calls)
	}
}

// The local stack delivers nothing, so nothing bounces: its outbox lists no address.
func TestOutboxSuppressesNothing(t *testing.T) {
	box := mail.NewOutbox()
	if _, listed, err := box.Suppressed(context.Background(), "jane@example.com"); listed || err != nil {
		t.Fatalf("Suppressed: %v, %v", listed, err)
	}
	if removed, err := box.Unsuppress(context.Background(), "jane@example.com"); removed || err != nil {
		t.Fatalf("Unsuppress: %v, %v", removed, err)
	}
}
