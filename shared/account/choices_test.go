package account_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crowdgate/crowdgate/shared/account"
)

// A site created after its integrator opted out follows the choice from the start, and
// only sites with a choice keep their visitors' answers out of labeled data.
func TestNewSitesInheritTheIntegratorsChoices(t *testing.T) {
	ctx := context.Background()
	svc, st := newService()
	it := mustIntegrator(t, svc)
	before, _, err := svc.CreateSite(ctx, it.ID, account.NewSite{Name: "before", Hostnames: []string{"a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if !before.PublishesAnswers() {
		t.Fatal("a site without choices withholds answers")
	}
	opted := account.Integrator{ID: "0b6f8a52-7c1e-4d3a-9b2f-5e4d3c2b1a09", Name: "Opted", Email: "o@example.com", Country: "US",
		Choices: account.Choices{OptOutSale: true}}
	if err := st.CreateIntegrator(ctx, opted); err != nil {
		t.Fatal(err)
	}
	it = opted
	after, _, err := svc.CreateSite(ctx, it.ID, account.NewSite{Name: "after", Hostnames: []string{"b.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if after.Choices != it.Choices || after.PublishesAnswers() {
		t.Fatalf("site created after the opt-out: choices %+v, publishes %v", after.Choices, after.PublishesAnswers())
	}
	if got, _ := svc.GetSite(ctx, after.Sitekey); got.PublishesAnswers() {
		t.Fatal("the stored site lost the inherited choice")
	}
	limited := account.Site{Choices: account.Choices{LimitSensitive: true}}
	if limited.PublishesAnswers() {
		t.Fatal("a site with limited use publishes answers")
	}
}

func TestProfileFieldsAreNormalisedByTheAccountRules(t *testing.T) {
	for _, c := range []struct{ field, in, want string }{
		{account.FieldName, "  Jane Q. Doe ", "Jane Q. Doe"},
		{account.FieldEmail, "Jane@Example.COM", "Jane@example.com"},
		{account.FieldCountry, "fr", "FR"},
	} {
		got, err := account.NormalizeField(c.field, c.in)
		if err != nil || got != c.want {
			t.Errorf("%s %q = %q, %v; want %q", c.field, c.in, got, err, c.want)
		}
	}
	for _, c := range [][2]string{{account.FieldCountry, "Germany"}, {account.FieldEmail, "x"}, {"password", "x"}, {account.FieldName, ""}} {
		var v *account.ValidationError
		if _, err := account.NormalizeField(c[0], c[1]); !errors.As(err, &v) {
			t.Errorf("%s %q: %v, want a validation error", c[0], c[1], err)
		}
	}
}
