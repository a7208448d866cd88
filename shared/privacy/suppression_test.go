package privacy_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// A mail to the subject that bounced leaves the address on the mail provider's
// suppression list, outside every table: an erasure removes it (in every case the address
// may be listed under), an access package says whether it is there.

func TestErasureRemovesTheAddressFromTheSuppressionList(t *testing.T) {
	for _, typ := range []privacy.Type{privacy.TypeDelete, privacy.TypeChildDelete, privacy.TypeWithdrawConsent} {
		t.Run(string(typ), func(t *testing.T) {
			w := newWorld(t, 1)
			list := &privacytest.Suppressions{}
			w.deps.Suppression = list
			since := t0.Add(-48 * time.Hour)
			list.List("Jane@Example.com", privacy.Suppression{Reason: "BOUNCE", Since: since})
			list.List(janeMail, privacy.Suppression{Reason: "COMPLAINT", Since: since})
			list.List(bobMail, privacy.Suppression{Reason: "BOUNCE", Since: since})

			r, _ := w.verified(t, "Jane@Example.com", typ)
			done := w.approveAndRun(t, r.ID)
			if done.Status != privacy.StatusCompleted {
				t.Fatalf("status %s", done.Status)
			}
			if list.Listed("Jane@Example.com") || list.Listed(janeMail) {
				t.Fatal("Jane's address is still on the suppression list")
			}
			if !list.Listed(bobMail) {
				t.Fatal("Bob's address was removed from the suppression list")
			}
			if got := privacy.ReportOf(done)[privacy.ExecSuppression]; !mapsEqual(got, map[string]int{privacy.KindSuppressedAddress: 2}) {
				t.Fatalf("erasure report %v", got)
			}
			// A redelivery finds nothing more to remove.
			if _, err := w.run(r.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestErasureWaitsForTheSuppressionList(t *testing.T) {
	w := newWorld(t, 1)
	list := &privacytest.Suppressions{Fail: errors.New("TooManyRequestsException")}
	w.deps.Suppression = list
	list.List(janeMail, privacy.Suppression{Reason: "BOUNCE", Since: t0})
	r, _ := w.verified(t, janeMail, privacy.TypeDelete)
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	if _, err := w.run(r.ID); err == nil {
		t.Fatal("the run succeeded while the suppression list could not be changed")
	}
	if got := w.get(t, r.ID); got.Status != privacy.StatusInProgress {
		t.Fatalf("status %s: the request must stay in progress until the address is off the list", got.Status)
	}
	list.Fail = nil
	if done, err := w.run(r.ID); err != nil || done.Status != privacy.StatusCompleted || list.Listed(janeMail) {
		t.Fatalf("retry: %s, %v, listed %v", done.Status, err, list.Listed(janeMail))
	}
}

func TestAccessPackageSaysWhetherTheAddressIsSuppressed(t *testing.T) {
	since := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for name, tc := range map[string]struct {
		listed string // "" lists nothing
		want   map[string]string
	}{
		"listed as typed":      {"Jane@Example.com", map[string]string{"suppressed": "yes", "reason": "bounce", "since": "2025-03-04T05:06:07Z"}},
		"listed in lower case": {janeMail, map[string]string{"suppressed": "yes", "reason": "bounce", "since": "2025-03-04T05:06:07Z"}},
		"not listed":           {"", map[string]string{"suppressed": "no"}},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, 1)
			list := &privacytest.Suppressions{}
			w.deps.Suppression = list
			if tc.listed != "" {
				list.List(tc.listed, privacy.Suppression{Reason: "BOUNCE", Since: since})
			}
			r, _ := w.verified(t, "Jane@Example.com", privacy.TypeAccess)
			w.approveAndRun(t, r.ID)
			raw, ok := w.files.Object(privacy.PackageKey(r.ID, privacy.PackageJSON))
			if !ok {
				t.Fatal("no package")
			}
			var p struct {
				Records []privacy.Record `json:"records"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			var found []privacy.Record
			for _, rec := range p.Records {
				if rec.Kind == privacy.KindMailSuppression {
					found = append(found, rec)
				}
			}
			if len(found) != 1 || found[0].ID != "Jane@Example.com" || !equalFields(found[0].Fields, tc.want) {
				t.Fatalf("suppression records %+v, want one for the address with %v", found, tc.want)
			}
			if tc.listed != "" && !list.Listed(tc.listed) {
				t.Fatal("an access request changed the suppression list")
			}
		})
	}
}

func equalFields(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
