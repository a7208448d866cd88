package privacy_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// A site created for Jane's integrator while the accounts step runs — after it deleted her
// sites, before her profile goes (the creation checked the profile was there) — must go
// too: left behind, it would keep verifying with her account erased.
func TestErasureRemovesASiteCreatedWhileItRuns(t *testing.T) {
	w := newWorld(t, 3)
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	created := false
	w.h.Fail = func(op string) error {
		if op == "delete_profile" && !created {
			created = true
			w.h.AddSite(account.Site{Sitekey: janeInt[:8] + "-site-late", IntegratorID: janeInt, Name: "late", Hostnames: []string{"late.example"},
				SecretHash: janeSecret[:63] + "9", CreatedAt: t0})
		}
		return nil
	}
	done := w.approveAndRun(t, r.ID)
	if !created {
		t.Fatal("the accounts step never deleted a profile")
	}
	if left := w.janeTraces(); len(left) > 0 {
		t.Fatalf("after the erasure, Jane's data is left: %v", left)
	}
	w.checkBobUntouched(t)
	if got := privacy.ReportOf(done)[privacy.ExecAccounts][privacy.KindSite]; got != 3 {
		t.Errorf("accounts report counts %d sites, want 3", got)
	}
}
