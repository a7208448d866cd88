package challenge_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
)

// A site whose integrator opted out of sale/sharing (privacy opt_out or limit) still
// verifies its visitors, but their answers never reach the answers queue; the same
// challenge on a site without the choice publishes them.
func TestOptedOutSiteVerifiesVisitorsButPublishesNoAnswers(t *testing.T) {
	for _, withhold := range []bool{false, true} {
		e := challengetest.NewEnv()
		e.Sites = challengetest.NewSites(challenge.SiteInfo{Sitekey: e.Sitekey, Hostnames: []string{e.Hostname}, WithholdAnswers: withhold})
		e.Deps.Sites = e.Sites
		svc := challenge.New(e.Deps)
		pub, rec := issue(t, svc, e, "en")
		res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true))
		if err != nil || !res.Pass || res.Token == "" {
			t.Fatalf("withhold=%v: a right answer did not pass: %+v, %v", withhold, res, err)
		}
		got := len(e.Outbox.All())
		switch {
		case withhold && got != 0:
			t.Errorf("opted-out site published %d answer messages", got)
		case !withhold && got == 0:
			t.Error("a site without the choice published no answers (the comparison proves nothing)")
		}
	}
}

// A visitor whose browser sends Global Privacy Control passes with a right answer and gets
// a token, but none of their answers reach the answers queue; the outcome still reaches
// the risk hook (pseudonyms only, needed against abuse). The same visitor without the
// signal publishes, so the comparison means something.
func TestGlobalPrivacyControlVisitorPassesButPublishesNoAnswers(t *testing.T) {
	for _, optOut := range []bool{false, true} {
		e := challengetest.NewEnv()
		svc := challenge.New(e.Deps)
		pub, rec := issue(t, svc, e, "en")
		res, err := svc.Answer(ctx, challenge.AnswerRequest{
			ID: pub.ID, Sitekey: e.Sitekey, Answers: challengetest.Solve(rec, true), Client: visitor, OptOut: optOut,
		})
		if err != nil || !res.Pass || res.Token == "" {
			t.Fatalf("optOut=%v: a right answer did not pass: %+v, %v", optOut, res, err)
		}
		if len(e.Tokens.All()) != 1 {
			t.Errorf("optOut=%v: %d token records, want 1", optOut, len(e.Tokens.All()))
		}
		got := len(e.Outbox.All())
		switch {
		case optOut && got != 0:
			t.Errorf("a GPC visitor's answers were published: %d messages", got)
		case !optOut && got == 0:
			t.Error("a visitor without GPC published no answers (the comparison proves nothing)")
		}
		var passed bool
		for _, r := range e.RiskRecords {
			passed = passed || (r.ChallengeID == pub.ID && r.Outcome == challenge.OutcomePassed)
		}
		if !passed {
			t.Errorf("optOut=%v: the pass was not reported to the risk hook", optOut)
		}
	}
}

// Global Privacy Control changes what is published, not grading: a wrong answer from an
// opted-out visitor still fails and gets a fresh challenge, with nothing published.
func TestGlobalPrivacyControlDoesNotChangeGrading(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	pub, rec := issue(t, svc, e, "en")
	res, err := svc.Answer(ctx, challenge.AnswerRequest{
		ID: pub.ID, Sitekey: e.Sitekey, Answers: challengetest.Solve(rec, false), Client: visitor, OptOut: true,
	})
	if err != nil || res.Pass || res.Token != "" || res.Challenge == nil {
		t.Fatalf("a wrong answer with GPC: %+v, %v", res, err)
	}
	if len(e.Tokens.All()) != 0 || len(e.Outbox.All()) != 0 {
		t.Fatal("a failed GPC answer minted a token or published labels")
	}
}
