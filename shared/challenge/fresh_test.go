package challenge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
	"github.com/crowdgate/crowdgate/shared/job"
)

// A site deleted (or disabled) by its integrator, or a host taken off its list, between a
// visitor's challenge and their wrong answer gets no fresh challenge: the answer is
// refused as a first request would be, nothing new is stored, and the failure itself still
// reaches the risk hook (the answered challenge was used up and graded).
func TestFailedAnswerOnAGoneSiteGetsNoFreshChallenge(t *testing.T) {
	for name, c := range map[string]struct {
		site challenge.SiteInfo // what the site looks like at answer time; empty: gone
		want error
	}{
		"site deleted":      {want: challenge.ErrUnknownSite},
		"host taken off":    {site: challenge.SiteInfo{Sitekey: challengetest.DemoSitekey, Hostnames: []string{"localhost"}}, want: challenge.ErrHostNotAllowed},
		"site still served": {site: challenge.SiteInfo{Sitekey: challengetest.DemoSitekey, Hostnames: []string{challengetest.DemoHostname}}},
	} {
		t.Run(name, func(t *testing.T) {
			e := challengetest.NewEnv()
			svc := challenge.New(e.Deps)
			pub, rec := issue(t, svc, e, "en")

			now := challengetest.NewSites()
			if c.site.Sitekey != "" {
				now = challengetest.NewSites(c.site)
			}
			*e.Sites = *now
			res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, false))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want == nil {
				if res.Challenge == nil || e.Store.Len() != 2 {
					t.Fatalf("a served site got no fresh challenge: %+v, %d stored", res, e.Store.Len())
				}
				return
			}
			if res.Challenge != nil || e.Store.Len() != 1 {
				t.Fatalf("a fresh challenge was issued for a gone site: %+v, %d stored", res, e.Store.Len())
			}
			if r, _ := e.Store.Record(pub.ID); !r.Used {
				t.Error("the answered challenge was not used up")
			}
			failed := false
			for _, r := range e.RiskRecords {
				failed = failed || (r.ChallengeID == pub.ID && r.Outcome == challenge.OutcomeFailed)
				if r.Outcome == challenge.OutcomeIssued && r.ChallengeID != pub.ID {
					t.Errorf("an issue was reported for a challenge that was never handed out: %+v", r)
				}
			}
			if !failed {
				t.Error("the failed answer was not reported to the risk hook")
			}
		})
	}
}

// slowPool is the demo catalog behind a store that takes step per draw (DynamoDB reads).
func slowPool(e *challengetest.Env, step time.Duration) *challengetest.Pool {
	return &challengetest.Pool{DrawFunc: func(ctx context.Context, req job.Request) (job.Draw, error) {
		e.Clock.Advance(step)
		return e.Catalog.Draw(ctx, req)
	}}
}

// A challenge is handed out only after its material is drawn: its lifetime (expires_in)
// and the solve time are counted from then, for a first challenge and for the fresh one
// after a wrong answer, so a slow pool costs the visitor neither answering time nor a
// solve time longer than theirs.
func TestChallengeTimesCountFromAfterTheDraw(t *testing.T) {
	const step = 2 * time.Second // per draw; a challenge takes three
	e := challengetest.NewEnv()
	e.Deps.Pool = slowPool(e, step)
	svc := challenge.New(e.Deps)

	pub, rec := issue(t, svc, e, "en")
	handedOut := e.Clock.Now()
	if !rec.IssuedAt.Equal(handedOut) || !rec.ExpiresAt.Equal(handedOut.Add(pub.ExpiresIn)) {
		t.Fatalf("issued %v, expires %v; handed out at %v with expires_in %v", rec.IssuedAt, rec.ExpiresAt, handedOut, pub.ExpiresIn)
	}

	e.Clock.Advance(4 * time.Second)
	res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, false))
	if err != nil || res.Challenge == nil {
		t.Fatalf("wrong answer: %+v %v", res, err)
	}
	if calls := e.AnswerRiskCalls(); len(calls) != 1 || calls[0].SolveTime != 4*time.Second {
		t.Fatalf("first challenge: risk input %+v, want a solve time of 4s", calls)
	}
	fresh, _ := e.Store.Record(res.Challenge.ID)
	handedOut = e.Clock.Now()
	if !fresh.IssuedAt.Equal(handedOut) || !fresh.ExpiresAt.Equal(handedOut.Add(res.Challenge.ExpiresIn)) {
		t.Fatalf("fresh challenge issued %v, expires %v; handed out at %v with expires_in %v", fresh.IssuedAt, fresh.ExpiresAt, handedOut, res.Challenge.ExpiresIn)
	}

	// The visitor may use all of expires_in: answering a second before its end still counts.
	e.Clock.Advance(res.Challenge.ExpiresIn - time.Second)
	res, err = answer(svc, e, fresh.ID, challengetest.Solve(fresh, true))
	if err != nil || !res.Pass {
		t.Fatalf("fresh challenge answered within expires_in: %+v %v", res, err)
	}
	if calls := e.AnswerRiskCalls(); len(calls) != 2 || calls[1].SolveTime != 5*time.Minute-time.Second {
		t.Fatalf("fresh challenge: risk input %+v, want a solve time of 4m59s", calls)
	}
}
