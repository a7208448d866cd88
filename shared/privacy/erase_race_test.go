package privacy_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// Jane's sites and risk-lookup key keep working until the accounts step removes them, so
// a risk lookup answered after the disclosures step (while the requests and accessibility
// steps run, or between invocations) records a disclosure to her integrator. The erasure
// must not leave it behind for 24 months.
func TestErasureRemovesDisclosuresMadeWhileItRuns(t *testing.T) {
	w := newWorld(t, 3)
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	lookedUp := false
	w.h.Fail = func(op string) error {
		if op == "scrub" && !lookedUp {
			lookedUp = true
			w.h.Disclosures[janeInt] = append(w.h.Disclosures[janeInt], privacy.Disclosure{
				ID: "late-d0", At: t0, Recipient: janeInt, Sitekey: janeInt[:8] + "-site-0", Kind: privacy.DisclosureRiskIP, Subject: "198.51.100.0/24",
			})
		}
		return nil
	}
	done := w.approveAndRun(t, r.ID)
	if !lookedUp {
		t.Fatal("the requests step never ran")
	}
	if left := w.janeTraces(); len(left) > 0 {
		t.Fatalf("after the erasure, Jane's data is left: %v", left)
	}
	w.checkBobUntouched(t)
	if got := privacy.ReportOf(done)[privacy.ExecAccounts][privacy.KindDisclosure]; got != 1 {
		t.Errorf("accounts report counts %d late disclosures, want 1", got)
	}
}
