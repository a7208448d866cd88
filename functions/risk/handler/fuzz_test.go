package handler_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/web/webtest"
)

// The risk lookup's routes, and the documented error codes of each with their status
// (docs/API.md).
var lookupRoutes = []struct {
	prefix string
	errors webtest.Codes
}{
	{"/v1/risk/challenges/", webtest.Codes{"unauthorized": 401, "challenge_not_found": 404, "not_found": 404}},
	{"/v1/risk/ips/", webtest.Codes{"invalid_ip": 400, "unauthorized": 401, "ip_not_found": 404, "not_found": 404}},
}

var dailyErrors = webtest.Codes{"bad_request": 400, "unauthorized": 401, "site_not_found": 404, "not_found": 404}

// get sends one GET with the given Authorization (none when empty).
func get(h http.Handler, path, rawQuery, authorization string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.URL.RawQuery = rawQuery
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkLookupAnswer is webtest.CheckAnswer with the Bearer challenge every 401 carries.
// It returns the error code.
func checkLookupAnswer(t *testing.T, rec *httptest.ResponseRecorder, codes webtest.Codes) string {
	t.Helper()
	code := webtest.CheckAnswer(t, rec, codes)
	if rec.Code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("401 without a Bearer challenge: %v", rec.Header())
	}
	return code
}

// authorizations are credentials for the seeds: the own integrator's key and site secret,
// and near misses.
var authorizations = []string{
	"Bearer " + ownKey, "Bearer " + ownSecret, "", "Bearer", "Bearer ", "bearer " + ownKey, "BEARER\t" + ownKey,
	"Basic " + ownKey, "Bearer " + ownKey + "0", "Bearer " + ownKey + " " + ownKey, "Bearer " + strings.ToUpper(ownKey),
	"Bearer cgk_4f1d2c3b5a697887_8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c",
	"Bearer 0x" + strings.Repeat("0", 40), "Bearer 0x" + strings.Repeat("G", 40), "Bearer " + strings.Repeat("cgi_", 2000),
	"  Bearer   " + ownKey + "  ", "Bearer cgi_", "Bearer ünïcödé",
}

// FuzzRiskLookup drives GET /v1/risk/challenges/{id} and GET /v1/risk/ips/{ip} with any id
// or address and any Authorization. A refusal discloses nothing; an address lookup
// discloses networks, never the address.
func FuzzRiskLookup(f *testing.F) {
	for _, r := range lookupRoutes {
		webtest.Documented(f, r.errors)
	}
	for _, auth := range authorizations {
		f.Add(uint8(0), passedID, auth)
		f.Add(uint8(1), "203.0.113.77", auth)
	}
	for _, id := range []string{otherChalID, "c_ffffffffffffffffffffffffffffffff", "C_0000000000000000000000000000AA02", "c_", "a_0123456789abcdef0123456789abcdef",
		passedID + "/", passedID + "0", "ç_日本", "/", strings.Repeat("c_0", 3000)} {
		f.Add(uint8(0), id, "Bearer "+ownKey)
	}
	for _, ip := range []string{"198.51.100.9", "203.0.113.300", "::ffff:203.0.113.77", "::ffff:cb00:714d", "2001:db8::1", "fe80::1%eth0",
		"0.0.0.0", "::", "255.255.255.255", "1.2.3.4.5", "203.0.113.077", "203.000.113.77", " 203.0.113.77", "[2001:db8::1]", "203.0.113.77:80",
		"2001:db8::ffff:203.0.113.77", "203.0.113.0/24", "١٢٣.٠.١١٣.٧٧", strings.Repeat("1", 5000)} {
		f.Add(uint8(1), ip, "Bearer "+ownKey)
		f.Add(uint8(1), ip, "Bearer "+ownSecret)
	}
	f.Fuzz(func(t *testing.T, route uint8, segment, authorization string) {
		if !webtest.HeaderSafe(authorization) {
			t.Skip("not a value an HTTP header can carry")
		}
		fx := &lookupFakes{}
		r := lookupRoutes[int(route)%len(lookupRoutes)]
		rec := get(newLookup(fx, newMemDays()), r.prefix+url.PathEscape(segment), "", authorization)
		if code := checkLookupAnswer(t, rec, r.errors); code != "" {
			if len(fx.disclosed) != 0 {
				t.Fatalf("refusal (%s) recorded disclosures %+v", code, fx.disclosed)
			}
			return
		}
		if len(fx.disclosed) == 0 {
			t.Fatalf("answer without a disclosure record: %s", rec.Body)
		}
		for _, d := range fx.disclosed {
			if r.prefix == "/v1/risk/ips/" && !strings.HasSuffix(d.Subject, "/24") && !strings.HasSuffix(d.Subject, "/48") {
				t.Fatalf("disclosure names %q, not a network", d.Subject)
			}
		}
	})
}

// FuzzAnalyticsDaily drives GET /v1/analytics/sites/{sitekey}/daily with any sitekey,
// query and Authorization. An answer lists every day of an allowed range and is never
// recorded as a disclosure.
func FuzzAnalyticsDaily(f *testing.F) {
	codes := webtest.Documented(f, dailyErrors)
	for _, auth := range authorizations {
		f.Add(ownSite, "from=2026-11-28&to=2026-11-30", auth)
	}
	for _, q := range []string{
		"", "from=&to=", "from=2026-11-30&to=2026-11-28", "from=2026-06-01&to=2026-11-30", "from=2026-09-02&to=2026-11-30",
		"from=2026-09-01&to=2026-11-30", "from=28.11.2026&to=2026-11-30", "from=2026-11-30&to=2026-11-30", "from=2026-11-30&to=2026-12-01",
		"from=2025-10-30&to=2025-11-01", "from=2025-11-01&to=2025-11-02", "from=0000-01-01&to=9999-12-31", "from=9999-12-30&to=9999-12-31",
		"from=0000-01-01&to=0000-01-02", "from=2026-02-29&to=2026-03-01", "from=2024-02-29&to=2024-03-01", "from=2026-11-31&to=2026-12-01",
		"from=2026-11-28&from=2026-01-01&to=2026-11-30", "to=2026-11-30&from=2026-11-28", "from=%zz&to=2026-11-30", "from=2026-11-28;to=2026-11-30",
		"from=+2026-11-28&to=2026-11-30", "from=2026-11-28T00:00:00Z&to=2026-11-30", "from=20261128&to=20261130", "from=2026-11-28%00&to=2026-11-30",
		"from=-001-01-01&to=2026-11-30", "from=1969-12-31&to=1970-01-01", "from=2026-11-28&to=2026-11-30&extra=1", "from=2026-11-2８&to=2026-11-30",
		"from=" + strings.Repeat("2026-11-28", 500) + "&to=2026-11-30",
	} {
		f.Add(ownSite, q, "Bearer "+ownKey)
	}
	for _, site := range []string{otherSite, secondSite, strings.ToUpper(ownSite), ownSite + " ", "x", "/", "ç", strings.Repeat("6f1c", 3000)} {
		f.Add(site, "from=2026-11-28&to=2026-11-30", "Bearer "+ownKey)
		f.Add(site, "from=2026-11-28&to=2026-11-30", "Bearer "+ownSecret)
	}
	f.Fuzz(func(t *testing.T, sitekey, rawQuery, authorization string) {
		if !webtest.HeaderSafe(authorization) {
			t.Skip("not a value an HTTP header can carry")
		}
		fx := &lookupFakes{}
		days := newMemDays()
		days.add(ownSite, "2026-11-29", analytics.Challenges, 123)
		days.add(secondSite, "2026-11-30", analytics.Passes, 5)
		rec := get(newLookup(fx, days), "/v1/analytics/sites/"+url.PathEscape(sitekey)+"/daily", rawQuery, authorization)
		code := checkLookupAnswer(t, rec, codes)
		if len(fx.disclosed) != 0 {
			t.Fatalf("aggregates recorded as a disclosure: %+v", fx.disclosed)
		}
		if code != "" {
			return
		}
		var got dailyBody
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Sitekey != sitekey || len(got.Days) == 0 || len(got.Days) > analytics.MaxDays ||
			got.Days[0].Date != got.From || got.Days[len(got.Days)-1].Date != got.To {
			t.Fatalf("daily answer %s (%v)", rec.Body, err)
		}
	})
}
