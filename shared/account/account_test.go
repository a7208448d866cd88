package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/account/accounttest"
)

var now = time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)

func newService() (*account.Service, *accounttest.Store) {
	st := &accounttest.Store{}
	return account.NewService(st, func() time.Time { return now }), st
}

// mustCreate creates an account holder with create and fails the test at once if it fails.
func mustCreate[A, N any](t *testing.T, create func(context.Context, N) (A, error), in N) A {
	t.Helper()
	a, err := create(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustIntegrator(t *testing.T, svc *account.Service) account.Integrator {
	t.Helper()
	return mustCreate(t, svc.CreateIntegrator, account.NewIntegrator{Name: "Example", Email: "ops@example.com", Country: "de"})
}

func fieldOf(err error) string {
	var v *account.ValidationError
	if errors.As(err, &v) {
		return v.Field
	}
	return ""
}

// holder is one kind of account holder seen through its service and its store.
// Integrators and customers follow the same profile rules, so the profile tests run against
// both. Their types have the same fields, so a customer is tested converted to Integrator
// and created from a NewIntegrator converted to NewCustomer.
type holder struct {
	kind   string
	create func(context.Context, account.NewIntegrator) (account.Integrator, error)
	get    func(ctx context.Context, id string) (account.Integrator, error) // through the service
	stored func(ctx context.Context, id string) (account.Integrator, error) // from the store
}

func holders() []holder {
	isvc, ist := newService()
	csvc, cst := newCustomerService()
	asIntegrator := func(get func(context.Context, string) (account.Customer, error)) func(context.Context, string) (account.Integrator, error) {
		return func(ctx context.Context, id string) (account.Integrator, error) {
			c, err := get(ctx, id)
			return account.Integrator(c), err
		}
	}
	return []holder{
		{kind: "integrator", create: isvc.CreateIntegrator, get: isvc.GetIntegrator, stored: ist.GetIntegrator},
		{
			kind: "customer",
			create: func(ctx context.Context, in account.NewIntegrator) (account.Integrator, error) {
				c, err := csvc.CreateCustomer(ctx, account.NewCustomer(in))
				return account.Integrator(c), err
			},
			get: asIntegrator(csvc.GetCustomer), stored: asIntegrator(cst.GetCustomer),
		},
	}
}

func TestCreateNormalisesAndStores(t *testing.T) {
	ctx := context.Background()
	cases := []struct{ in, want account.NewIntegrator }{
		{account.NewIntegrator{Name: "  Example GmbH ", Email: "Ops@Example.COM", Country: "de"}, account.NewIntegrator{Name: "Example GmbH", Email: "Ops@example.com", Country: "DE"}},
		{account.NewIntegrator{Name: " Label Buyer Ltd ", Email: "Data@Buyer.EXAMPLE", Country: "gb"}, account.NewIntegrator{Name: "Label Buyer Ltd", Email: "Data@buyer.example", Country: "GB"}},
	}
	for _, h := range holders() {
		for _, c := range cases {
			a, err := h.create(ctx, c.in)
			if err != nil {
				t.Fatalf("%s %+v: %v", h.kind, c.in, err)
			}
			if a.Name != c.want.Name || a.Email != c.want.Email || a.Country != c.want.Country || !a.CreatedAt.Equal(now) || !account.IsUUID(a.ID) {
				t.Fatalf("%s %+v", h.kind, a)
			}
			stored, err := h.stored(ctx, a.ID)
			if err != nil || stored != a {
				t.Fatalf("%s stored %+v, %v", h.kind, stored, err)
			}
			got, err := h.get(ctx, a.ID)
			if err != nil || got != a {
				t.Fatalf("Get %s %+v, %v", h.kind, got, err)
			}
		}
	}
}

func TestCreateValidation(t *testing.T) {
	ok := account.NewIntegrator{Name: "Example", Email: "a@example.com", Country: "US"}
	cases := []struct {
		name  string
		edit  func(*account.NewIntegrator)
		field string
	}{
		{"empty name", func(n *account.NewIntegrator) { n.Name = "" }, "name"},
		{"blank name", func(n *account.NewIntegrator) { n.Name = "  " }, "name"},
		{"long name", func(n *account.NewIntegrator) { n.Name = strings.Repeat("x", 101) }, "name"},
		{"control char in name", func(n *account.NewIntegrator) { n.Name = "a\x00b" }, "name"},
		{"missing email", func(n *account.NewIntegrator) { n.Email = "" }, "email"},
		{"no at", func(n *account.NewIntegrator) { n.Email = "example.com" }, "email"},
		{"display name", func(n *account.NewIntegrator) { n.Email = "Bob <bob@example.com>" }, "email"},
		{"display name, other domain", func(n *account.NewIntegrator) { n.Email = "Bob <a@b.example>" }, "email"},
		{"two addresses", func(n *account.NewIntegrator) { n.Email = "a@example.com, b@example.com" }, "email"},
		{"domain without dot", func(n *account.NewIntegrator) { n.Email = "a@localhost" }, "email"},
		{"bad domain", func(n *account.NewIntegrator) { n.Email = "a@exa_mple.com" }, "email"},
		{"too long email", func(n *account.NewIntegrator) { n.Email = strings.Repeat("a", 250) + "@example.com" }, "email"},
		{"missing country", func(n *account.NewIntegrator) { n.Country = "" }, "country"},
		{"alpha-3 country", func(n *account.NewIntegrator) { n.Country = "DEU" }, "country"},
		{"UK is not ISO", func(n *account.NewIntegrator) { n.Country = "UK" }, "country"},
		{"unassigned code", func(n *account.NewIntegrator) { n.Country = "XX" }, "country"},
	}
	for _, h := range holders() {
		for _, c := range cases {
			in := ok
			c.edit(&in)
			_, err := h.create(context.Background(), in)
			if got := fieldOf(err); got != c.field {
				t.Errorf("%s, %s: error %v (field %q), want a validation error on %q", h.kind, c.name, err, got, c.field)
			}
		}
		for _, cc := range []string{"GB", "us", "AX", "SS", "BQ", "ZW"} {
			in := ok
			in.Country = cc
			if _, err := h.create(context.Background(), in); err != nil {
				t.Errorf("%s: country %s refused: %v", h.kind, cc, err)
			}
		}
	}
}

func TestGetUnknownOrMalformedIsNotFound(t *testing.T) {
	for _, h := range holders() {
		for _, id := range []string{"00000000-0000-4000-8000-000000000000", "nope", "", "../../x", "../x"} {
			if _, err := h.get(context.Background(), id); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("get %s %q: %v, want ErrNotFound", h.kind, id, err)
			}
		}
	}
}

func TestCreateSiteReturnsSecretOnceAndStoresOnlyItsHash(t *testing.T) {
	svc, st := newService()
	it := mustIntegrator(t, svc)
	site, secret, err := svc.CreateSite(context.Background(), it.ID, account.NewSite{Name: "shop", Hostnames: []string{"Shop.Example.com.", "203.0.113.9"}, RequireRemoteIP: true})
	if err != nil {
		t.Fatal(err)
	}
	if !account.IsSecret(secret) || secret != strings.ToLower(secret) {
		t.Fatalf("secret %q is not 0x + 40 lower-case hex", secret)
	}
	if site.Sitekey[14] != '4' || !strings.ContainsRune("89ab", rune(site.Sitekey[19])) || !account.IsUUID(site.Sitekey) {
		t.Fatalf("sitekey %q is not a UUID v4", site.Sitekey)
	}
	stored, _ := st.GetSite(context.Background(), site.Sitekey)
	if stored.SecretHash != account.HashSecret(secret) || strings.Contains(stored.SecretHash, secret[2:]) {
		t.Fatal("store does not hold exactly the secret's hash")
	}
	if strings.Join(stored.Hostnames, ",") != "shop.example.com,203.0.113.9" || !stored.RequireRemoteIP || stored.IntegratorID != it.ID {
		t.Fatalf("stored site %+v", stored)
	}
	found, err := svc.SiteBySecret(context.Background(), secret)
	if err != nil || found.Sitekey != site.Sitekey {
		t.Fatalf("SiteBySecret: %+v, %v", found, err)
	}
	// Upper-case hex is the same secret.
	if found, err := svc.SiteBySecret(context.Background(), "0x"+strings.ToUpper(secret[2:])); err != nil || found.Sitekey != site.Sitekey {
		t.Fatalf("SiteBySecret upper-case: %v", err)
	}
	_, secret2, _ := svc.CreateSite(context.Background(), it.ID, account.NewSite{Name: "blog", Hostnames: []string{"blog.example.com"}})
	if secret2 == secret {
		t.Fatal("two sites got the same secret")
	}
}

func TestCreateSiteForUnknownIntegrator(t *testing.T) {
	svc, _ := newService()
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid"} {
		_, _, err := svc.CreateSite(context.Background(), id, account.NewSite{Name: "x", Hostnames: []string{"example.com"}})
		if !errors.Is(err, account.ErrNotFound) {
			t.Errorf("integrator %q: %v, want ErrNotFound", id, err)
		}
	}
}

func TestHostnameValidation(t *testing.T) {
	good := map[string]string{
		"example.com":        "example.com",
		"EXAMPLE.com.":       "example.com",
		" a-b.example.co.uk": "a-b.example.co.uk",
		"localhost":          "localhost",
		"xn--bcher-kva.de":   "xn--bcher-kva.de",
		"192.0.2.1":          "192.0.2.1",
		"2001:DB8::1":        "2001:db8::1",
		"[2001:db8::2]":      "2001:db8::2",
	}
	for in, want := range good {
		got, err := account.ValidHostnames([]string{in})
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("ValidHostnames(%q) = %v, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "https://example.com", "example.com/path", "example.com:8080", "*.example.com",
		"-bad.com", "bad-.com", "a..b", "exa mple.com", "bücher.de", strings.Repeat("a", 64) + ".com",
		"1.2.3", "256.1.1.1", "fe80::1%eth0"}
	for _, in := range bad {
		if _, err := account.ValidHostnames([]string{in}); fieldOf(err) != "hostnames" {
			t.Errorf("ValidHostnames(%q) accepted (err %v)", in, err)
		}
	}
	// The refusal of an internationalised name says which form to give.
	if _, err := account.ValidHostnames([]string{"bücher.de"}); err == nil || !strings.Contains(err.Error(), "xn--") {
		t.Errorf("ValidHostnames(bücher.de): %v, want a message naming the xn-- form", err)
	}
	if _, err := account.ValidHostnames(nil); fieldOf(err) != "hostnames" {
		t.Error("no hostnames accepted")
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = string(rune('a'+i)) + ".example.com"
	}
	if _, err := account.ValidHostnames(many); fieldOf(err) != "hostnames" {
		t.Error("21 hostnames accepted")
	}
	if got, _ := account.ValidHostnames(many[:20]); len(got) != 20 {
		t.Error("20 hostnames refused")
	}
	if got, _ := account.ValidHostnames([]string{"a.com", "A.com", "a.com."}); len(got) != 1 {
		t.Errorf("duplicates kept: %v", got)
	}
}

func TestUpdateSite(t *testing.T) {
	svc, _ := newService()
	it := mustIntegrator(t, svc)
	site, secret, _ := svc.CreateSite(context.Background(), it.ID, account.NewSite{Name: "shop", Hostnames: []string{"example.com"}})
	hosts, on := []string{"New.Example.org"}, true
	got, err := svc.UpdateSite(context.Background(), site.Sitekey, account.SiteUpdate{Hostnames: &hosts, RequireRemoteIP: &on})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "shop" || len(got.Hostnames) != 1 || got.Hostnames[0] != "new.example.org" || !got.RequireRemoteIP {
		t.Fatalf("updated %+v", got)
	}
	if s, _ := svc.SiteBySecret(context.Background(), secret); !s.RequireRemoteIP {
		t.Fatal("siteverify's lookup does not see the update")
	}
	empty := ""
	if _, err := svc.UpdateSite(context.Background(), site.Sitekey, account.SiteUpdate{Name: &empty}); fieldOf(err) != "name" {
		t.Fatalf("empty name: %v", err)
	}
	badHosts := []string{"not a host"}
	if _, err := svc.UpdateSite(context.Background(), site.Sitekey, account.SiteUpdate{Hostnames: &badHosts}); fieldOf(err) != "hostnames" {
		t.Fatalf("bad hostnames: %v", err)
	}
	if s, _ := svc.GetSite(context.Background(), site.Sitekey); s.Hostnames[0] != "new.example.org" {
		t.Fatal("a refused update changed the site")
	}
	if _, err := svc.UpdateSite(context.Background(), "00000000-0000-4000-8000-000000000000", account.SiteUpdate{RequireRemoteIP: &on}); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("unknown site: %v", err)
	}
}

func TestRotateSecretRetiresTheOldOneAtOnce(t *testing.T) {
	svc, _ := newService()
	it := mustIntegrator(t, svc)
	site, old, _ := svc.CreateSite(context.Background(), it.ID, account.NewSite{Name: "shop", Hostnames: []string{"example.com"}})
	rotated, fresh, err := svc.RotateSecret(context.Background(), site.Sitekey)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old || !account.IsSecret(fresh) || rotated.SecretHash != account.HashSecret(fresh) {
		t.Fatalf("rotation returned %q (old %q)", fresh, old)
	}
	if _, err := svc.SiteBySecret(context.Background(), old); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("old secret after rotation: %v, want ErrNotFound", err)
	}
	if s, err := svc.SiteBySecret(context.Background(), fresh); err != nil || s.Sitekey != site.Sitekey {
		t.Fatalf("new secret: %v", err)
	}
	if _, _, err := svc.RotateSecret(context.Background(), "00000000-0000-4000-8000-000000000000"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("rotate unknown site: %v", err)
	}
}

// storeFunc is a Store whose methods fail the test unless set.
type storeFunc struct {
	t                *testing.T
	siteBySecretHash func(hash string) (account.Site, error)
}

var _ account.Store = (*storeFunc)(nil)

func (s *storeFunc) fail(m string) { s.t.Helper(); s.t.Fatalf("unexpected store call %s", m) }
func (s *storeFunc) CreateIntegrator(context.Context, account.Integrator) error {
	s.fail("CreateIntegrator")
	return nil
}
func (s *storeFunc) GetIntegrator(context.Context, string) (account.Integrator, error) {
	s.fail("GetIntegrator")
	return account.Integrator{}, nil
}
func (s *storeFunc) CreateSite(context.Context, account.Site) error { s.fail("CreateSite"); return nil }
func (s *storeFunc) GetSite(context.Context, string) (account.Site, error) {
	s.fail("GetSite")
	return account.Site{}, nil
}
func (s *storeFunc) UpdateSite(context.Context, string, account.SiteUpdate) (account.Site, error) {
	s.fail("UpdateSite")
	return account.Site{}, nil
}
func (s *storeFunc) RotateSecret(context.Context, string, string, string, time.Time) error {
	s.fail("RotateSecret")
	return nil
}
func (s *storeFunc) SiteBySecretHash(_ context.Context, h string) (account.Site, error) {
	if s.siteBySecretHash == nil {
		s.fail("SiteBySecretHash")
	}
	return s.siteBySecretHash(h)
}

func TestMalformedSecretIsRefusedWithoutLookup(t *testing.T) {
	svc := account.NewService(&storeFunc{t: t}, nil)
	for _, s := range []string{"", "0x", "0x123", "1x" + strings.Repeat("0", 40), "0x" + strings.Repeat("g", 40), "0x" + strings.Repeat("0", 41), strings.Repeat("0", 42)} {
		if _, err := svc.SiteBySecret(context.Background(), s); !errors.Is(err, account.ErrInvalidSecret) {
			t.Errorf("SiteBySecret(%q): %v, want ErrInvalidSecret", s, err)
		}
	}
	boom := errors.New("boom")
	svc = account.NewService(&storeFunc{t: t, siteBySecretHash: func(string) (account.Site, error) { return account.Site{}, boom }}, nil)
	if _, err := svc.SiteBySecret(context.Background(), "0x"+strings.Repeat("a", 40)); !errors.Is(err, boom) {
		t.Fatalf("store error not passed on: %v", err)
	}
}

func TestAllowsHostname(t *testing.T) {
	// Hostnames as ValidHostnames stores them (IPv6 canonical, without brackets); hosts as
	// pages report them (location.hostname puts an IPv6 address in brackets).
	s := account.Site{Hostnames: []string{"example.com", "192.0.2.1", "2001:db8::1"}}
	for host, want := range map[string]bool{
		"example.com": true, "EXAMPLE.COM.": true, "www.example.com": true, "a.b.example.com": true,
		"badexample.com": false, "example.com.evil.org": false, "": false, "192.0.2.1": true, "x.192.0.2.1": false,
		"com": false, "[2001:db8::1]": true, "2001:db8::1": true, "[2001:DB8:0:0::1]": true, "[2001:db8::2]": false,
		"[::ffff:192.0.2.1]": true, "[]": false,
	} {
		if got := s.AllowsHostname(host); got != want {
			t.Errorf("AllowsHostname(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestExactlyTheAssignedCountryCodesAreAccepted(t *testing.T) {
	for _, h := range holders() {
		accepted := 0
		for a := 'A'; a <= 'Z'; a++ {
			for b := 'A'; b <= 'Z'; b++ {
				in := account.NewIntegrator{Name: "x", Email: "a@example.com", Country: string([]rune{a, b})}
				if _, err := h.create(context.Background(), in); err == nil {
					accepted++
				}
			}
		}
		if accepted != 249 {
			t.Fatalf("%s: %d country codes accepted, ISO 3166-1 assigns 249", h.kind, accepted)
		}
	}
}
