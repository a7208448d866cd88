package handler_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
)

// oneAnswer is a risk store in which the looked-up address answered once on the own site,
// with score.
type oneAnswer struct {
	lookupFakes
	score float64
}

var _ handler.Store = (*oneAnswer)(nil)

func (s *oneAnswer) SiteActivity(_ context.Context, sitekey string, _ challenge.WindowQuery) (challenge.SiteActivity, error) {
	a := challenge.SiteActivity{Minutes: challenge.Minutes{}}
	if sitekey == ownSite {
		a.Minutes[challenge.MinuteOf(lookupTime.Add(-time.Minute))] = challenge.Counts{Issued: 1, Passed: 1}
		a.ScoreSum, a.Scores = s.score, 1
	}
	return a, nil
}

// The address lookup's mean score is to two decimals, as /siteverify's and the challenge
// lookup's scores are: at full precision an address whose one answer was an accessibility
// text pass (score 0, exactly) would stand out from one with a clean visual pass with the
// mouse, whose pointer model never gives exactly 0 (GDPR Art. 9: it tells of a disability).
func TestAddressLookupMeanScoreIsRoundedLikeEveryScore(t *testing.T) {
	mean := func(score float64) any {
		t.Helper()
		f := &oneAnswer{score: score}
		h := handler.New(handler.Deps{Keys: f, Sites: f, Store: f, Salts: challengetest.NewSalts(), Disclosures: f,
			Now: func() time.Time { return lookupTime }})
		rec := get(h, "/v1/risk/ips/203.0.113.77", "", "Bearer "+ownKey)
		var got struct {
			Answers struct {
				MeanScore any `json:"mean_score"`
			} `json:"answers"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || err != nil {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		return got.Answers.MeanScore
	}
	textPass, visualPass := mean(0), mean(0.001234)
	if textPass != visualPass || textPass != float64(0) {
		t.Fatalf("mean_score of a text pass %v, of a clean visual pass %v: want both 0", textPass, visualPass)
	}
	if got := mean(0.4149); got != 0.41 {
		t.Fatalf("mean_score %v, want 0.41", got)
	}
}
