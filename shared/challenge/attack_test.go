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

// binom is n choose k (0 outside 0 ≤ k ≤ n).
func binom(n, k int) float64 {
	if k < 0 || k > n {
		return 0
	}
	r := 1.0
	for i := range k {
		r = r * float64(n-i) / float64(i+1)
	}
	return r
}

// Question 1 of a solving-farm audit: a bot that cannot see the images, answering challenges as the service composes them,
// passes no more often than the package comment promises: a fair coin per tile and on the
// yes/no at most 1 in 6,144; the best blind strategy (a fixed number of tiles per grid,
// the likelier yes/no answer), knowing the design, at most 1 in 4,000; "select all" and
// "select none" never. The pass chances are computed exactly from each issued challenge's
// stored composition (gold tiles, how many show the class, open tiles, the yes/no's truth)
// and averaged over many challenges, so the test measures the code's rules, not luck.
func TestBlindBotPassRates(t *testing.T) {
	e := challengetest.NewEnv()
	svc := challenge.New(e.Deps)
	const n = 8000
	var coin, all, none, yesRight, noRight float64
	fixed := make([]float64, challenge.GridTiles+1) // by tiles selected per grid
	for range n {
		_, rec := issue(t, svc, e, "en")
		pCoin, pAll, pNone := 1.0, 1.0, 1.0
		pFixed := make([]float64, len(fixed))
		for m := range pFixed {
			pFixed[m] = 1
		}
		for _, task := range rec.Tasks {
			gold, yes := 0, 0
			for _, it := range task.Items {
				if it.Gold {
					gold++
					if it.Truth {
						yes++
					}
				}
			}
			open := len(task.Items) - gold
			switch task.Kind {
			case challenge.TaskImageGrid:
				pCoin *= 1 / float64(int(1)<<gold)
				if yes != gold {
					pAll = 0
				}
				if yes != 0 {
					pNone = 0
				}
				// m tiles chosen at random pass when they are the yes gold tiles and m−yes
				// of the open ones.
				for m := range pFixed {
					pFixed[m] *= binom(open, m-yes) / binom(len(task.Items), m)
				}
			case challenge.TaskYesNo:
				it := task.Items[0]
				if !it.Gold || it.Truth {
					yesRight++
				}
				if !it.Gold || !it.Truth {
					noRight++
				}
				if it.Gold {
					pCoin /= 2
				}
			}
		}
		coin += pCoin
		all += pAll
		none += pNone
		for m := range fixed {
			fixed[m] += pFixed[m]
		}
	}
	// The fixed strategy's yes/no: the better of always "yes" and always "no".
	yn := max(yesRight, noRight) / n
	best, bestM := 0.0, 0
	for m, p := range fixed {
		if p/n > best {
			best, bestM = p/n, m
		}
	}
	t.Logf("fair coin 1/%.0f; best fixed count %d tiles 1/%.0f (grids) × %.3f (yes/no) = 1/%.0f",
		n/coin, bestM, 1/best, yn, 1/(best*yn))
	// The fair coin's chance is exactly 1/6,144 on the standard composition; the average
	// varies a little with how often the yes/no happened to be open (1 in 3), hence 5%.
	if coin/n > 1.05/6144 {
		t.Errorf("a fair-coin clicker passes 1 in %.0f, want about 1 in 6,144 at most", n/coin)
	}
	if best*yn > 1.0/4000 {
		t.Errorf("selecting %d tiles per grid passes 1 in %.0f, want at most 1 in 4,000", bestM, 1/(best*yn))
	}
	if all != 0 || none != 0 {
		t.Errorf("select all passes with chance %g, select none %g: want never", all/n, none/n)
	}
}
