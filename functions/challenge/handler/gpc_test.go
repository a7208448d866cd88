package handler_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/crowdgate/crowdgate/shared/platform/platformtest"
)

// A passing answer whose browser sent Global Privacy Control (API Gateway delivers header
// names lower-cased) still passes, but publishes no answers; without the signal, or with
// any value other than "1", the same answer publishes its two tasks with open tiles.
func TestGlobalPrivacyControlHeaderWithholdsAnswers(t *testing.T) {
	file := filepath.Join("..", "..", "..", "events", "challenge", "answer-pass.json")
	for _, c := range []struct {
		gpc  string // "" means no header
		msgs int
	}{{"", 2}, {"1", 0}, {"0", 2}, {"yes", 2}} {
		f := newFix(t)
		ev := platformtest.HTTPEvent(t, file) // each case edits its own copy
		if c.gpc != "" {
			ev.Headers["sec-gpc"] = c.gpc
		}
		resp, err := httpadapter.NewV2(f.h).ProxyWithContext(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Pass  bool   `json:"pass"`
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || resp.StatusCode != 200 || !body.Pass || body.Token == "" {
			t.Fatalf("Sec-GPC %q: %d %s", c.gpc, resp.StatusCode, resp.Body)
		}
		if resp.Headers["Access-Control-Allow-Origin"] != "*" {
			t.Errorf("Sec-GPC %q: CORS header missing: %v", c.gpc, resp.Headers)
		}
		if n := len(f.env.Outbox.All()); n != c.msgs {
			t.Errorf("Sec-GPC %q: %d answers messages, want %d", c.gpc, n, c.msgs)
		}
	}
}
