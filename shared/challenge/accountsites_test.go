package challenge_test

import (
	"context"
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
	"github.com/crowdgate/crowdgate/shared/challenge"
)

// The challenge function (through AccountSites) reads an integrator's opt-out or limit choice from the site, so
// that its visitors' answers are withheld from labeled data (shared/challenge publish).
func TestSitesWithAChoiceWithholdAnswers(t *testing.T) {
	ctx := context.Background()
	st := &accounttest.Store{}
	it := account.Integrator{ID: "0b6f8a52-7c1e-4d3a-9b2f-5e4d3c2b1a09", Name: "Shop", Email: "o@example.com", Country: "US"}
	if err := st.CreateIntegrator(ctx, it); err != nil {
		t.Fatal(err)
	}
	sites := challenge.AccountSites{Store: st}
	for i, c := range []account.Choices{{}, {OptOutSale: true}, {LimitSensitive: true}} {
		sk := []string{"9d0c1b2a-3e4f-4a5b-8c6d-7e8f9a0b1c2d", "9d0c1b2a-3e4f-4a5b-8c6d-7e8f9a0b1c2e", "9d0c1b2a-3e4f-4a5b-8c6d-7e8f9a0b1c2f"}[i]
		if err := st.CreateSite(ctx, account.Site{Sitekey: sk, IntegratorID: it.ID, Name: "s", Hostnames: []string{"shop.example"}, SecretHash: sk, Choices: c}); err != nil {
			t.Fatal(err)
		}
		info, err := sites.Site(ctx, sk)
		if err != nil {
			t.Fatal(err)
		}
		if info.WithholdAnswers != c.Any() {
			t.Errorf("choices %+v: WithholdAnswers %v", c, info.WithholdAnswers)
		}
	}
}
