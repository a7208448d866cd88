// Package handler is the risk function. It has two event sources:
//
//   - the risk-events queue (NewConsumer): every challenge request and answer the
//     challenge function sees arrives as a challenge.RiskEvent and is counted, once, in
//     the per-minute windows of its IP pseudonym, its subnet's pseudonym and the IP on its
//     site, which the challenge function reads back to score and to set difficulty;
//   - the integrator risk lookup (New): GET /v1/risk/challenges/{id} and
//     GET /v1/risk/ips/{ip}, authenticated with an integrator API key (cgi_…) and
//     answering about the traffic of all of that integrator's sites, or, as before keys
//     existed, with one site's secret and answering about that site only (docs/API.md
//     "Risk"). Every answer is recorded in the privacy table as a disclosure, naming the
//     integrator and the site whose traffic it covered.
//   - the integrator analytics (analytics.go): GET /v1/analytics/sites/{sitekey}/daily,
//     the same credentials, daily de-identified counts of one own site with small cells
//     suppressed; the consumer keeps those counts too.
package handler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/verify"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Error codes of the risk lookup (docs/API.md).
const (
	CodeChallengeNotFound = "challenge_not_found"
	CodeIPNotFound        = "ip_not_found"
	CodeInvalidIP         = "invalid_ip"
)

// LookupWindow is how far back an address lookup reaches: what the counters keep.
const LookupWindow = challenge.RiskEventRetention

// Sites finds the site a secret belongs to (*account.Service): account.ErrInvalidSecret or
// account.ErrNotFound when there is none.
type Sites interface {
	SiteBySecret(ctx context.Context, secret string) (account.Site, error)
}

// Keys authenticates integrator API keys and lists an integrator's sites
// (*account.IntegratorKeyService).
type Keys interface {
	// Authenticate returns account.ErrInvalidKey for a malformed, unknown or revoked key.
	Authenticate(ctx context.Context, key string) (account.IntegratorKey, error)
	Sites(ctx context.Context, integratorID string) ([]account.Site, error)
}

var _ Keys = (*account.IntegratorKeyService)(nil)

// Store reads what the risk function keeps (*dynamo.Risk).
type Store interface {
	ChallengeRisk(ctx context.Context, id string) (challenge.ChallengeRisk, error)
	SiteActivity(ctx context.Context, sitekey string, q challenge.WindowQuery) (challenge.SiteActivity, error)
}

// Deps are the risk lookup's ports.
type Deps struct {
	// Keys authenticates integrator API keys; required.
	Keys Keys
	// Sites authenticates site secrets, the older, one-site credential; nil refuses them.
	Sites Sites
	Store Store
	// Salts gives the day's salt for the risk purpose (the pseudonyms the counters use).
	Salts       challenge.Salts
	Disclosures privacy.DisclosureLog
	// Analytics reads the daily aggregates (GET /v1/analytics/sites/{sitekey}/daily).
	Analytics DailyReader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns the risk lookup's handler.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	return web.Mount(routes.FunctionRisk, map[string]http.Handler{
		"GET /v1/risk/challenges/{id}":            d.authenticated(d.challenge),
		"GET /v1/risk/ips/{ip}":                   d.authenticated(d.ip),
		"GET /v1/risk/ips/{ip}/{prefix}":          d.authenticated(d.ip),
		"GET /v1/analytics/sites/{sitekey}/daily": d.authenticated(d.daily),
	})
}

// caller is who asks and what it may see.
type caller struct {
	integratorID string
	// sitekeys are the sites whose traffic the answer may cover.
	sitekeys []string
	// site is set when the caller used one site's secret: answers then name that site.
	site string
}

func (c caller) owns(sitekey string) bool {
	for _, s := range c.sitekeys {
		if s == sitekey {
			return true
		}
	}
	return false
}

type callerHandler func(w http.ResponseWriter, r *http.Request, c caller)

// authenticated requires "Authorization: Bearer <integrator API key>" (or a site's secret,
// see Deps.Sites). Missing, malformed, unknown and revoked credentials get the same 401, so
// the answer says nothing about which credentials exist.
func (d Deps) authenticated(next callerHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unauthorized := func() { unauthorized(w, r) }
		cred, ok := web.BearerToken(r)
		if !ok {
			unauthorized()
			return
		}
		var c caller
		switch {
		case account.IsIntegratorKey(cred):
			k, err := d.Keys.Authenticate(r.Context(), cred)
			if errors.Is(err, account.ErrInvalidKey) {
				unauthorized()
				return
			}
			if err != nil {
				web.WriteError(w, r, fmt.Errorf("risk lookup: authenticate: %w", err))
				return
			}
			sites, err := d.Keys.Sites(r.Context(), k.IntegratorID)
			if err != nil {
				web.WriteError(w, r, fmt.Errorf("risk lookup: %w", err))
				return
			}
			c.integratorID = k.IntegratorID
			for _, s := range sites {
				c.sitekeys = append(c.sitekeys, s.Sitekey)
			}
		case d.Sites != nil && account.IsSecret(cred):
			site, err := d.Sites.SiteBySecret(r.Context(), cred)
			switch {
			case errors.Is(err, account.ErrNotFound), errors.Is(err, account.ErrInvalidSecret):
				unauthorized()
				return
			case err != nil:
				web.WriteError(w, r, fmt.Errorf("risk lookup: authenticate: %w", err))
				return
			}
			c = caller{integratorID: site.IntegratorID, sitekeys: []string{site.Sitekey}, site: site.Sitekey}
		default:
			unauthorized()
			return
		}
		next(w, r, c)
	})
}

// unauthorized is the one answer to credentials that do not (or no longer) work.
func unauthorized(w http.ResponseWriter, r *http.Request) {
	web.Unauthorized(w, r, "crowdgate risk", "send an integrator API key as Authorization: Bearer cgi_…")
}

// assessmentJSON's score is rounded as /siteverify rounds it, so the two agree for a pass.
type assessmentJSON struct {
	Score   float64  `json:"score"`
	Reasons []string `json:"reasons"`
}

type issueJSON struct {
	IssuedAt string `json:"issued_at"`
	Tasks    int    `json:"tasks"`
	assessmentJSON
}

type answerJSON struct {
	Outcome    string `json:"outcome"`
	AnsweredAt string `json:"answered_at"`
	SolveMS    int64  `json:"solve_ms"`
	assessmentJSON
}

type challengeJSON struct {
	ID      string      `json:"id"`
	Sitekey string      `json:"sitekey"`
	Issue   *issueJSON  `json:"issue"`
	Answer  *answerJSON `json:"answer"`
}

func reasons(r []string) []string {
	if r == nil {
		return []string{}
	}
	return r
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// challenge answers GET /v1/risk/challenges/{id}. A challenge of a site the caller does
// not own is 404, the same as an unknown one.
func (d Deps) challenge(w http.ResponseWriter, r *http.Request, who caller) {
	id := r.PathValue("id")
	notFound := web.Errorf(http.StatusNotFound, CodeChallengeNotFound, "no risk record for this challenge on your sites (records arrive within seconds and are kept 24 hours)")
	if !challenge.ValidID(id) {
		web.WriteError(w, r, notFound)
		return
	}
	c, err := d.Store.ChallengeRisk(r.Context(), id)
	switch {
	case errors.Is(err, challenge.ErrNotFound) || err == nil && !who.owns(c.Sitekey):
		web.WriteError(w, r, notFound)
		return
	case err != nil:
		web.WriteError(w, r, fmt.Errorf("risk lookup: %w", err))
		return
	}
	if !d.disclose(w, r, who.integratorID, privacy.DisclosureRiskChallenge, id, c.Sitekey) {
		return
	}
	out := challengeJSON{ID: c.ID, Sitekey: c.Sitekey}
	if c.Issued {
		out.Issue = &issueJSON{IssuedAt: rfc3339(c.IssuedAt), Tasks: c.Tasks, assessmentJSON: assessmentJSON{verify.ReportedScore(c.IssueScore), reasons(c.IssueReasons)}}
	}
	if c.Outcome != "" {
		out.Answer = &answerJSON{Outcome: string(c.Outcome), AnsweredAt: rfc3339(c.AnsweredAt), SolveMS: c.SolveTime.Milliseconds(),
			assessmentJSON: assessmentJSON{verify.ReportedScore(c.AnswerScore), reasons(c.AnswerReasons)}}
	}
	web.WriteJSON(w, http.StatusOK, out)
}

type countsJSON struct {
	Issued  int `json:"issued"`
	Refused int `json:"refused"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
}

func countsOf(c challenge.Counts) countsJSON {
	return countsJSON{c.Issued, c.Refused, c.Passed, c.Failed}
}

type ipJSON struct {
	IP string `json:"ip"`
	// Sitekey is the site of a site-secret caller (one site only).
	Sitekey string `json:"sitekey,omitempty"`
	// Sitekeys are the caller's sites the address was seen on in the last 24 hours.
	Sitekeys []string              `json:"sitekeys"`
	AsOf     string                `json:"as_of"`
	Windows  map[string]countsJSON `json:"windows"`
	Answers  struct {
		Count     int      `json:"count"`
		MeanScore *float64 `json:"mean_score"`
	} `json:"answers"`
}

// ip answers GET /v1/risk/ips/{ip}: the address's activity summed over the caller's sites.
// An address without any there (possibly only on other integrators' sites) is 404. A
// network (GET /v1/risk/ips/{ip}/{prefix}, or its slash escaped) is refused: the counters
// are kept per address, so there is no answer about a network to give.
func (d Deps) ip(w http.ResponseWriter, r *http.Request, who caller) {
	addr, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil || addr.Zone() != "" || r.PathValue("prefix") != "" {
		web.WriteError(w, r, web.Errorf(http.StatusBadRequest, CodeInvalidIP, "the path must end in one address, IPv4 or IPv6 (not a network)"))
		return
	}
	addr = addr.Unmap()
	ip := net.IP(addr.AsSlice())
	now := d.Now()
	q := challenge.WindowQuery{From: now.Add(-LookupWindow), To: now, Keys: map[string]challenge.Pseudonyms{}}
	for _, day := range challenge.DaysBetween(q.From, now) {
		salt, err := d.Salts.Salt(r.Context(), day)
		if err != nil {
			web.WriteError(w, r, fmt.Errorf("risk lookup: salt: %w", err))
			return
		}
		q.Keys[day] = challenge.Pseudonyms{IP: challenge.RiskPseudonyms(salt, ip).IP}
	}
	// The risk table keeps windows per site, so the integrator's view is the sum of one
	// read per site.
	a := challenge.SiteActivity{Minutes: challenge.Minutes{}}
	var seen []string
	for _, sitekey := range who.sitekeys {
		sa, err := d.Store.SiteActivity(r.Context(), sitekey, q)
		if err != nil {
			web.WriteError(w, r, fmt.Errorf("risk lookup: %w", err))
			return
		}
		if sa.Minutes.Window(now, LookupWindow) == (challenge.Counts{}) {
			continue
		}
		seen = append(seen, sitekey)
		for m, c := range sa.Minutes {
			a.Minutes[m] = a.Minutes[m].Add(c)
		}
		a.ScoreSum += sa.ScoreSum
		a.Scores += sa.Scores
	}
	day := a.Minutes.Window(now, LookupWindow)
	if len(seen) == 0 || day == (challenge.Counts{}) {
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, CodeIPNotFound, "no traffic from this address on your sites in the last 24 hours"))
		return
	}
	// One record per site whose traffic the answer covers, each naming the address's
	// network only: the log must not become a store of addresses.
	network := fmt.Sprintf("%s/%d", challenge.TruncateIP(ip), prefixLen(addr))
	if !d.disclose(w, r, who.integratorID, privacy.DisclosureRiskIP, network, seen...) {
		return
	}
	out := ipJSON{IP: addr.String(), Sitekey: who.site, Sitekeys: seen, AsOf: rfc3339(now), Windows: map[string]countsJSON{
		"1m":  countsOf(a.Minutes.Window(now, challenge.Window1m)),
		"15m": countsOf(a.Minutes.Window(now, challenge.Window15m)),
		"24h": countsOf(day),
	}}
	out.Answers.Count = a.Scores
	if a.Scores > 0 {
		// To two decimals like every score given out (verify.ReportedScore): at full
		// precision an exact value, such as an accessibility text pass's 0, would stand out.
		m := verify.ReportedScore(a.ScoreSum / float64(a.Scores))
		out.Answers.MeanScore = &m
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// prefixLen is the length of the network TruncateIP keeps.
func prefixLen(a netip.Addr) int {
	if a.Is4() {
		return 24
	}
	return 48
}

// disclose records the answer about to be given, one record per site it covers; without
// all of them nothing is given, and none stays recorded (privacy.DisclosureLog). It
// answers the request itself when it cannot record them and reports false. An integrator
// whose erasure has begun (account.ErrErasing), or whose account is gone, gets the 401 of
// a revoked key: its keys and sites are being deleted, and it authenticated just before.
func (d Deps) disclose(w http.ResponseWriter, r *http.Request, integratorID, kind, subject string, sitekeys ...string) bool {
	at := d.Now().UTC()
	records := make([]privacy.Disclosure, 0, len(sitekeys))
	ids := make([]string, 0, len(sitekeys))
	for _, sitekey := range sitekeys {
		// Ids of the records' own, logged below with the request's id, which serves only the
		// logs (kept 30 days, where the records are kept 24 months).
		id := web.NewID()[:16]
		ids = append(ids, id)
		records = append(records, privacy.Disclosure{ID: id, At: at, Recipient: integratorID, Sitekey: sitekey, Kind: kind, Subject: subject})
	}
	err := d.Disclosures.RecordDisclosures(r.Context(), records...)
	switch {
	case err == nil:
		web.Logger(r.Context()).InfoContext(r.Context(), "risk information disclosed", "disclosures", ids)
		return true
	case errors.Is(err, account.ErrErasing), errors.Is(err, account.ErrNotFound):
		unauthorized(w, r)
	default:
		web.WriteError(w, r, fmt.Errorf("risk lookup: record disclosure: %w", err))
	}
	return false
}
