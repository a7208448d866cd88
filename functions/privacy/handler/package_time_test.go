package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// The package's available_until is in whole seconds like every other privacy API time,
// and is the shown closed_at plus the 30 days.
func TestPackageAvailableUntilIsWholeSecondsAfterClosedAt(t *testing.T) {
	f := newFix(t)
	ctx := context.Background()
	_, secretB, err := f.svc.Verify(ctx, evB, evCodeB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approve(ctx, evB, privacy.Actor{Kind: privacy.ActorOperator}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(1500 * time.Millisecond)
	if _, err := f.svc.Run(ctx, evB, nil); err != nil {
		t.Fatal(err)
	}
	links := &Links{PresignGetFunc: func(_ context.Context, key string, _ time.Duration) (string, error) {
		return "https://privacy-bucket.example/" + key, nil
	}}
	h := handler.New(handler.Deps{Privacy: f.svc, Now: f.clock.Now, Packages: links})
	get := func(path string) map[string]any {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+secretB)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return body
	}
	closed, err := time.Parse(time.RFC3339, get("/v1/privacy/requests/" + evB)["closed_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	until, _ := get("/v1/privacy/requests/" + evB + "/package")["available_until"].(string)
	if want := closed.AddDate(0, 0, privacy.PackageKeepDays).Format(time.RFC3339); until != want {
		t.Errorf("available_until %q; want %q (closed_at %s + %d days, whole seconds)", until, want, closed.Format(time.RFC3339), privacy.PackageKeepDays)
	}
}
