package privacy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// The end-user answer is what a visitor is told is kept about their address. A risk
// lookup by a site's integrator keeps the looked-up address's network (/24, /48) in a
// disclosure record for DisclosureRetentionMonths (docs/PRIVACY.md inventory), so the
// answer must say so: "expire within 24 hours" alone is not what is kept.
func TestEndUserAnswerNamesTheDisclosureRecordOfTheNetwork(t *testing.T) {
	a := privacy.EndUser()
	months := fmt.Sprintf("%d months", privacy.DisclosureRetentionMonths)
	found := false
	for _, h := range a.Holdings {
		text := h.Data + " " + h.Form + " " + h.Kept
		if strings.Contains(h.Kept, months) && strings.Contains(text, "/24") && strings.Contains(text, "/48") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no holding of the end-user answer says a looked-up network is kept %s: %+v", months, a.Holdings)
	}
}

// The risk assessment of each challenge is kept for the site's integrator to look up for
// as long as the risk counters (challenge.RiskEventRetention, 24 hours), not minutes.
func TestEndUserAnswerNamesTheChallengeRiskRetention(t *testing.T) {
	for _, h := range privacy.EndUser().Holdings {
		if strings.HasPrefix(h.Data, "Challenges") && !strings.Contains(h.Kept, "24 hours") {
			t.Fatalf("challenges holding says %q; the challenge's risk assessment is kept 24 hours", h.Kept)
		}
	}
}

// Sign-up mail for the accessibility path is counted per network under a keyed hash of
// the whole IPv4 address (IPv6: its /64) and the hour (docs/PRIVACY.md inventory), not
// under the daily salt: the answer must name that record too.
func TestEndUserAnswerNamesTheAccessibilityNetworkCounter(t *testing.T) {
	for _, h := range privacy.EndUser().Holdings {
		if strings.Contains(h.Data, "(IP) address") {
			if !strings.Contains(h.Form, "/64") || !strings.Contains(h.Kept, "hour") {
				t.Fatalf("the network holding does not name the accessibility sign-up counter: %+v", h)
			}
			return
		}
	}
	t.Fatal("no holding about the network address")
}

// The widget stores nothing in the visitor's browser (docs/PRIVACY.md, "The widget in the
// visitor's browser"); a visitor asking what is kept about them should hear that too.
func TestEndUserAnswerSaysNothingIsStoredInTheBrowser(t *testing.T) {
	for _, h := range privacy.EndUser().Holdings {
		if strings.HasPrefix(h.Data, "Browser, device") {
			if !strings.Contains(h.Kept, "no cookies") || !strings.Contains(h.Kept, "no browser storage") {
				t.Fatalf("the browser holding does not say the widget stores nothing in the browser: %+v", h)
			}
			return
		}
	}
	t.Fatal("no holding about browser signals")
}
