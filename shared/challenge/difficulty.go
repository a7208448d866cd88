package challenge

import "time"

// Adaptive difficulty (docs/API.md "Risk"). Riskier visitors get more image grids: each
// grid has at least six gold tiles, so a grid multiplies a random clicker's chance by at
// most 1/64, while a person spends a few more seconds. Refusing is reserved for evidence
// the server itself holds about the address (failed answers and request floods), never
// for client-side tells alone: those can be wrong about real people (privacy extensions,
// assistive technology, unusual browsers), and more grids still leave them a way through.
const (
	// ScoreOneExtraGrid and ScoreTwoExtraGrids are the score bands that add one and two
	// grids.
	ScoreOneExtraGrid  = 0.5
	ScoreTwoExtraGrids = 0.8
	// FailuresPerExtraGrid: every this many failed answers from an IP pseudonym in the
	// last 15 minutes add a grid.
	FailuresPerExtraGrid = 3
	// MaxExtraGrids caps the extra grids: a challenge has at most 2+3 grids and a yes/no.
	MaxExtraGrids = 3

	// FailuresToBlock failed answers from one IP pseudonym in 15 minutes refuse further
	// challenges until enough of them are older than 15 minutes. A random clicker passes
	// the standard challenge 1 time in 6,144 or less and an extra grid makes that 64 times
	// rarer, so it is stopped long before it is lucky. Many people behind one address
	// (carrier NAT) also pass, so the block needs failures to outnumber passes
	// FailureRatio to one.
	FailuresToBlock = 10
	FailureRatio    = 2

	// Request floods (the tops of the risk library's velocity ramps, where its ip_velocity
	// and subnet_velocity parts are at their maximum): challenge requests from one IP
	// pseudonym or one subnet in 1 and 15 minutes.
	BlockIP1m      = 30
	BlockIP15m     = 150
	BlockSubnet1m  = 150
	BlockSubnet15m = 1000

	// retryStep is the resolution of RetryAfter; MinRetryAfter its least value.
	retryStep     = 5 * time.Second
	MinRetryAfter = 30 * time.Second
)

// Decide sets the difficulty of a visitor's next challenge from its score and its
// address's windows at now. failedNow counts an answer failing right now, which the
// windows cannot show yet (the risk function counts asynchronously). A refusal lasts
// until the windows, with no new events, fall below every block threshold.
func Decide(score float64, w RiskWindows, now time.Time, failedNow bool) (extraGrids int, retryAfter time.Duration) {
	if failedNow {
		w.IP = addMinute(w.IP, MinuteOf(now), Counts{Failed: 1})
	}
	if blocked(w, now) {
		// Look past Window15m: the window's oldest minute counts in proportion to its
		// overlap, so this minute's events still count a little 15 minutes from now.
		retryAfter = WindowSpan
		for d := retryStep; d <= WindowSpan; d += retryStep {
			if !blocked(w, now.Add(d)) {
				retryAfter = d
				break
			}
		}
		return 0, max(retryAfter, MinRetryAfter)
	}
	switch {
	case score >= ScoreTwoExtraGrids:
		extraGrids = 2
	case score >= ScoreOneExtraGrid:
		extraGrids = 1
	}
	extraGrids += w.IP.Window(now, Window15m).Failed / FailuresPerExtraGrid
	return min(extraGrids, MaxExtraGrids), 0
}

// blocked reports whether the server-side evidence at t refuses a challenge.
func blocked(w RiskWindows, t time.Time) bool {
	ip15 := w.IP.Window(t, Window15m)
	if ip15.Failed >= FailuresToBlock && ip15.Failed > FailureRatio*ip15.Passed {
		return true
	}
	return w.IP.Window(t, Window1m).Requests() >= BlockIP1m || ip15.Requests() >= BlockIP15m ||
		w.Subnet.Window(t, Window1m).Requests() >= BlockSubnet1m || w.Subnet.Window(t, Window15m).Requests() >= BlockSubnet15m
}

// addMinute returns a copy of m with c added to minute k.
func addMinute(m Minutes, k int64, c Counts) Minutes {
	out := make(Minutes, len(m)+1)
	for key, v := range m {
		out[key] = v
	}
	out[k] = out[k].Add(c)
	return out
}
