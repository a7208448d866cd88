package handler_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/platform"
)

// On AWS the notices go through the configuration set the stack passes in
// MAIL_NOTICE_CONFIGURATION_SET (no bounce or complaint reaches the account-level
// suppression list) and the codes through none; the local stack's outbox has no sets.
func TestNoticeMailerSendsThroughTheNoticeConfigurationSet(t *testing.T) {
	var sets []any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body %q: %v", raw, err)
		}
		sets = append(sets, body["ConfigurationSetName"])
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"MessageId":"0100018c-example"}`)
	}))
	defer srv.Close()
	env := &platform.Env{
		Config: config.Config{MailFrom: "privacy@crowdgate.example"},
		AWS: aws.Config{
			Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		},
	}
	// The variable the stack sets reaches the configuration.
	cfg, err := config.FromLookup(func(k string) (string, bool) {
		return map[string]string{"MAIL_NOTICE_CONFIGURATION_SET": "crowdgate-privacy-notices"}[k], k == "MAIL_NOTICE_CONFIGURATION_SET"
	})
	if err != nil {
		t.Fatal(err)
	}
	codes, err := handler.Mailer(env)
	if err != nil {
		t.Fatal(err)
	}
	notices := handler.NoticeMailer(codes, cfg.MailNoticeConfigurationSet)
	ctx := context.Background()
	if err := notices.Send(ctx, "jane@example.com", "s", "t"); err != nil {
		t.Fatal(err)
	}
	if err := codes.Send(ctx, "jane@example.com", "s", "t"); err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 || sets[0] != "crowdgate-privacy-notices" || sets[1] != nil {
		t.Fatalf("configuration sets sent: %v", sets)
	}

	local := &platform.Env{Config: config.Config{MailOutboxDir: t.TempDir()}}
	outbox, err := handler.Mailer(local)
	if err != nil {
		t.Fatal(err)
	}
	if m := handler.NoticeMailer(outbox, "crowdgate-privacy-notices"); m != outbox {
		t.Fatalf("local notice mailer %T, want the codes' own outbox", m)
	} else if _, ok := m.(*mail.Outbox); !ok {
		t.Fatalf("local notice mailer %T, want the outbox", m)
	}
}
