package challenge_test

import (
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
)

// A visitor told to come back after retry_after must get a challenge then (when it made
// no requests meanwhile), whatever second of the minute the refusal happened in.
func TestRetryAfterIsEnoughForTheBlockToLift(t *testing.T) {
	for _, sec := range []int{0, 1, 2, 15, 30, 45, 59} {
		now := t0.Add(time.Duration(sec) * time.Second)
		cases := map[string]struct {
			before, after challenge.RiskWindows // windows at the refusal and once it is counted
			failedNow     bool
		}{
			// Nine failures this minute; the tenth is this answer.
			"tenth failure now": {
				before:    challenge.RiskWindows{IP: minutes(t0, challenge.Counts{Issued: 9, Failed: 9})},
				after:     challenge.RiskWindows{IP: minutes(t0, challenge.Counts{Issued: 9, Failed: 10})},
				failedNow: true,
			},
			"request flood this minute": {
				before: challenge.RiskWindows{IP: minutes(t0, challenge.Counts{Issued: challenge.BlockIP15m})},
				after:  challenge.RiskWindows{IP: minutes(t0, challenge.Counts{Issued: challenge.BlockIP15m, Refused: 1})},
			},
			"subnet flood this minute": {
				before: challenge.RiskWindows{Subnet: minutes(t0, challenge.Counts{Issued: challenge.BlockSubnet15m})},
				after:  challenge.RiskWindows{Subnet: minutes(t0, challenge.Counts{Issued: challenge.BlockSubnet15m, Refused: 1})},
			},
		}
		for name, c := range cases {
			_, retry := challenge.Decide(0, c.before, now, c.failedNow)
			if retry <= 0 {
				t.Fatalf("%s at :%02d: not refused", name, sec)
			}
			if _, again := challenge.Decide(0, c.after, now.Add(retry), false); again != 0 {
				t.Errorf("%s at :%02d: told to retry after %s, refused again then for %s", name, sec, retry, again)
			}
		}
	}
}
