package challenge_test

import (
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
)

// The risk record of an issued challenge (the risk lookup's issued_at) carries the time
// the challenge's life and solve time count from, for a first challenge and for the fresh
// one after a wrong answer: issued_at plus solve_ms is answered_at however slow the draws.
func TestIssuedRiskRecordTimeIsTheChallengesIssueTime(t *testing.T) {
	e := challengetest.NewEnv()
	e.Deps.Pool = slowPool(e, 2*time.Second)
	svc := challenge.New(e.Deps)
	issuedAt := func(id string) time.Time {
		t.Helper()
		for _, r := range e.RiskRecords {
			if r.Outcome == challenge.OutcomeIssued && r.ChallengeID == id {
				return r.At
			}
		}
		t.Fatalf("no issue of %s reported", id)
		return time.Time{}
	}
	pub, rec := issue(t, svc, e, "en")
	if at := issuedAt(pub.ID); !at.Equal(rec.IssuedAt) {
		t.Errorf("first challenge reported issued at %v; it was issued at %v", at, rec.IssuedAt)
	}
	e.Clock.Advance(4 * time.Second)
	res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, false))
	if err != nil || res.Challenge == nil {
		t.Fatalf("wrong answer: %+v %v", res, err)
	}
	fresh, _ := e.Store.Record(res.Challenge.ID)
	if at := issuedAt(fresh.ID); !at.Equal(fresh.IssuedAt) {
		t.Errorf("fresh challenge reported issued at %v; it was issued at %v", at, fresh.IssuedAt)
	}
}
