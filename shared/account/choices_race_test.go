package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
)

// lateChoices is a store whose integrator reads go through getIntegrator, to show reads
// made before an opt-out landed.
type lateChoices struct {
	*accounttest.Store
	getIntegrator func(ctx context.Context, id string) (account.Integrator, error)
}

func (s lateChoices) GetIntegrator(ctx context.Context, id string) (account.Integrator, error) {
	return s.getIntegrator(ctx, id)
}

// optedIntegrator stores an integrator that has opted out and returns its id.
func optedIntegrator(t *testing.T, st *accounttest.Store) string {
	t.Helper()
	it := account.Integrator{ID: "0b6f8a52-7c1e-4d3a-9b2f-5e4d3c2b1a10", Name: "Opted", Email: "o@example.com", Country: "US",
		Choices: account.Choices{OptOutSale: true}}
	if err := st.CreateIntegrator(context.Background(), it); err != nil {
		t.Fatal(err)
	}
	return it.ID
}

// An opt-out that lands between the creation's read of the integrator and its write: the
// privacy worker's listing may have run before the site existed, so the site itself must
// carry the choice.
func TestCreateSiteInheritsAnOptOutThatLandsAfterItsRead(t *testing.T) {
	ctx := context.Background()
	st := &accounttest.Store{}
	id := optedIntegrator(t, st)
	reads := 0
	svc := account.NewService(lateChoices{Store: st, getIntegrator: func(ctx context.Context, id string) (account.Integrator, error) {
		reads++
		it, err := st.GetIntegrator(ctx, id)
		if reads == 1 {
			it.Choices = account.Choices{} // read before the opt-out
		}
		return it, err
	}}, func() time.Time { return now })
	site, _, err := svc.CreateSite(ctx, id, account.NewSite{Name: "racing", Hostnames: []string{"a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := st.GetSite(ctx, site.Sitekey)
	if site.PublishesAnswers() || stored.PublishesAnswers() {
		t.Fatalf("site created across an opt-out publishes answers: answer %+v, stored %+v", site.Choices, stored.Choices)
	}
}

// Choices that keep changing under the creation end it with ErrConflict (retry), not a
// site with the wrong choices or an endless loop.
func TestCreateSiteGivesUpOnChoicesThatKeepChanging(t *testing.T) {
	ctx := context.Background()
	st := &accounttest.Store{}
	id := optedIntegrator(t, st)
	reads := 0
	svc := account.NewService(lateChoices{Store: st, getIntegrator: func(ctx context.Context, id string) (account.Integrator, error) {
		reads++
		it, err := st.GetIntegrator(ctx, id)
		it.Choices = account.Choices{}
		return it, err
	}}, func() time.Time { return now })
	if _, _, err := svc.CreateSite(ctx, id, account.NewSite{Name: "racing", Hostnames: []string{"a.example"}}); !errors.Is(err, account.ErrConflict) {
		t.Fatalf("CreateSite: %v, want ErrConflict", err)
	}
	if reads < 2 || reads > 5 {
		t.Fatalf("%d reads of the integrator, want a few", reads)
	}
}
