package privacy_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// An API key created for Jane's integrator or customer while the accounts step runs —
// after it deleted the owner's keys, before the owner's profile goes (the creation checked
// the profile was there) — must go too: left behind, it would keep authenticating with
// her account erased.
func TestErasureRemovesAKeyCreatedWhileItRuns(t *testing.T) {
	w := newWorld(t, 3)
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	before := 0
	for _, k := range w.h.Keys {
		if k.CustomerID == janeCust {
			before++
		}
	}
	for _, k := range w.h.IntegratorKeys {
		if k.IntegratorID == janeInt {
			before++
		}
	}
	profiles := 0
	w.h.Fail = func(op string) error {
		if op != "delete_profile" {
			return nil
		}
		profiles++
		switch profiles {
		case 1: // the integrator's
			w.h.IntegratorKeys["ffffffffffff0001"] = account.IntegratorKey{ID: "ffffffffffff0001", IntegratorID: janeInt, Name: "late", Hash: janeKeyH[:63] + "1", CreatedAt: t0}
		case 2: // the customer's
			w.h.Keys["ffffffffffff0002"] = account.APIKey{ID: "ffffffffffff0002", CustomerID: janeCust, Name: "late", Hash: janeKeyH[:63] + "2", CreatedAt: t0}
		}
		return nil
	}
	done := w.approveAndRun(t, r.ID)
	if profiles < 2 {
		t.Fatalf("the accounts step deleted %d profiles, want 2", profiles)
	}
	if left := w.janeTraces(); len(left) > 0 {
		t.Fatalf("after the erasure, Jane's data is left: %v", left)
	}
	w.checkBobUntouched(t)
	if got := privacy.ReportOf(done)[privacy.ExecAccounts][privacy.KindAPIKey]; got != before+2 {
		t.Errorf("accounts report counts %d API keys, want %d", got, before+2)
	}
}

// A key and a site created while the accounts step runs work until its second pass: a
// risk lookup they answer after the disclosures were deleted records a disclosure to
// Jane's integrator, which must not outlive the erasure either.
func TestErasureRemovesDisclosuresMadeByAKeyCreatedWhileItRuns(t *testing.T) {
	w := newWorld(t, 3)
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	looked := false
	w.h.Fail = func(op string) error {
		if op == "delete_profile" && !looked {
			looked = true
			w.h.IntegratorKeys["ffffffffffff0001"] = account.IntegratorKey{ID: "ffffffffffff0001", IntegratorID: janeInt, Name: "late", Hash: janeKeyH[:63] + "1", CreatedAt: t0}
			w.h.Sites[janeInt[:8]+"-site-late"] = account.Site{Sitekey: janeInt[:8] + "-site-late", IntegratorID: janeInt, Name: "late", Hostnames: []string{"late.example"}, CreatedAt: t0}
			w.h.Disclosures[janeInt] = append(w.h.Disclosures[janeInt], privacy.Disclosure{
				ID: "late-d1", At: t0, Recipient: janeInt, Sitekey: janeInt[:8] + "-site-late", Kind: privacy.DisclosureRiskIP, Subject: "198.51.100.0/24",
			})
		}
		return nil
	}
	done := w.approveAndRun(t, r.ID)
	if !looked {
		t.Fatal("the accounts step never deleted a profile")
	}
	if left := w.janeTraces(); len(left) > 0 {
		t.Fatalf("after the erasure, Jane's data is left: %v", left)
	}
	w.checkBobUntouched(t)
	if got := privacy.ReportOf(done)[privacy.ExecAccounts][privacy.KindDisclosure]; got != 1 {
		t.Errorf("accounts report counts %d late disclosures, want 1", got)
	}
}
