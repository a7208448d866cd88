package privacy_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/privacy"
)

// A customer's contact who holds no integrator account is a data subject like any other:
// filing must show the operator that something matched (API.md: empty account_ids and no
// holds mean no_match), and the access package lists the customer account.
func TestRequestOfACustomerOnlyAddressIsNotANoMatch(t *testing.T) {
	w := newWorld(t, 1)
	const carolMail, carolCust = "carol@example.net", "55555555-5555-4555-8555-555555555555"
	w.h.Customers[carolCust] = account.Customer{ID: carolCust, Name: "Carol Labs", Email: carolMail, Country: "NL", CreatedAt: t0}

	r, _ := w.verified(t, "Carol@Example.net", privacy.TypeAccess)
	if len(r.AccountIDs) == 0 && len(r.Holds) == 0 {
		t.Fatalf("the request of a customer's address shows nothing matched (account_ids %v, holds %v): an operator would deny it as no_match", r.AccountIDs, r.Holds)
	}
	if !slices.Equal(r.Holds, []string{privacy.HoldCustomer}) || len(r.AccountIDs) != 0 {
		t.Fatalf("account_ids %v, holds %v; want no integrator and holds [%s]", r.AccountIDs, r.Holds, privacy.HoldCustomer)
	}
	w.approveAndRun(t, r.ID)
	raw, ok := w.files.Object(privacy.PackageKey(r.ID, privacy.PackageJSON))
	if !ok {
		t.Fatal("no package")
	}
	var p pkg
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, rec := range p.Records {
		kinds[rec.Kind]++
	}
	if want := map[string]int{privacy.KindCustomer: 1, privacy.KindPrivacyRequest: 1}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("records by kind %v, want %v", kinds, want)
	}
	for _, leak := range []string{janeMail, janeCust, janeInt, bobMail, bobCust} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("Carol's package contains %q", leak)
		}
	}
}

// An address with an integrator account is matched by its ids, not by a hold: holds name
// what account_ids cannot show.
func TestIntegratorAddressHoldsOnlyWhatAccountIDsDoNotShow(t *testing.T) {
	w := newWorld(t, 1)
	r, _ := w.verified(t, bobMail, privacy.TypeAccess)
	if !slices.Equal(r.AccountIDs, []string{bobInt}) || !slices.Equal(r.Holds, []string{privacy.HoldCustomer}) {
		t.Fatalf("Bob (integrator and customer): account_ids %v, holds %v", r.AccountIDs, r.Holds)
	}
}
