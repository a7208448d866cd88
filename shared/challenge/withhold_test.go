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
