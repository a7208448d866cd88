package handler

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// Times in the privacy API are whole seconds, like every other time the API shows.
func TestRequestTimesAreWholeSeconds(t *testing.T) {
	at := time.Date(2026, 12, 1, 6, 13, 1, 59519234, time.UTC)
	r := privacy.Request{ID: "r", ReceivedAt: at, VerifiedAt: at, ClosedAt: at, AckedAt: at, ApprovedAt: at}
	b, err := json.Marshal(operatorView(r, privacy.DateOf(at)))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, ".059") || strings.Count(s, `"2026-12-01T06:13:01Z"`) != 5 {
		t.Errorf("times not in whole seconds: %s", s)
	}
}
