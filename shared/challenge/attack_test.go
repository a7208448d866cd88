package challenge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
)

// A bot that gets the gold right (it memorised it, or a solving farm answered) passes, but
// if the risk scorer takes it for a bot its answers to the open items must not become
// labeled data: those are exactly the answers it can make up to poison a customer's labels.
// The pass itself stands (the site sees the score in siteverify and decides). A pass scored
// below the line publishes, so the comparison means something; so does a pass the scorer
// could not assess, which is kept out too (nothing vouches for it).
func TestRiskyPassPublishesNoAnswers(t *testing.T) {
	for _, c := range []struct {
		name    string
		score   float64
		fail    bool
		publish bool
	}{
		{"scored as a person", 0.25, false, true},
		{"just below the line", challenge.PublishScoreBelow - 0.01, false, true},
		{"scored as a likely bot", challenge.PublishScoreBelow, false, false},
		{"scored as a bot", 0.97, false, false},
		{"scorer unavailable", 0, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := challengetest.NewEnv()
			e.Deps.Risk = &challengetest.Risk{
				AssessFunc: func(_ context.Context, in challenge.RiskInput) (challenge.Assessment, error) {
					if in.Stage == challenge.RiskAnswer && c.fail {
						return challenge.Assessment{}, errors.New("windows unreadable")
					}
					if in.Stage == challenge.RiskAnswer {
						return challenge.Assessment{Score: c.score}, nil
					}
					return challenge.Assessment{}, nil
				},
				RecordFunc: func(context.Context, challenge.RiskRecord) error { return nil },
			}
			svc := challenge.New(e.Deps)
			pub, rec := issue(t, svc, e, "en")
			res, err := answer(svc, e, pub.ID, challengetest.Solve(rec, true))
			if err != nil || !res.Pass || res.Token == "" {
				t.Fatalf("a right answer did not pass: %+v, %v", res, err)
			}
			if got := len(e.Outbox.All()); (got > 0) != c.publish {
				t.Errorf("score %.2f (scorer failed: %v): %d answer messages published, want publishing %v", c.score, c.fail, got, c.publish)
			}
		})
	}
}
