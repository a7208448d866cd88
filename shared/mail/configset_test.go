package mail_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/crowdgate/crowdgate/shared/mail"
)

// A sender with a configuration set names it in every SendEmail (SES then applies the
// set's suppression options to that message); the plain sender, and one whose set is
// cleared, name none.
func TestSESSendsThroughItsConfigurationSet(t *testing.T) {
	var got []any
	client, _ := fakeSES(t, func(w http.ResponseWriter, body map[string]any) {
		got = append(got, body["ConfigurationSetName"])
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"MessageId":"0100018c-example"}`)
	})
	plain, err := mail.NewSES(client, "privacy@crowdgate.example")
	if err != nil {
		t.Fatal(err)
	}
	notices := plain.WithConfigurationSet("crowdgate-privacy-notices")
	for _, s := range []*mail.SES{notices, plain, notices.WithConfigurationSet("")} {
		if err := s.Send(context.Background(), "jane@example.com", "s", "t"); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 || got[0] != "crowdgate-privacy-notices" || got[1] != nil || got[2] != nil {
		t.Fatalf("ConfigurationSetName sent: %v", got)
	}
}
