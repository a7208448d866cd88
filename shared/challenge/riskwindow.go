package challenge

import (
	"context"
	"math"
	"time"

	"github.com/crowdgate/crowdgate/shared/risk"
)

// Risk windows: the risk function counts outcomes per minute for every IP pseudonym, its
// subnet's pseudonym and (for integrator lookups) the IP on each site. Sliding windows of
// 1 and 15 minutes are read from those minute counts.
const (
	Window1m  = time.Minute
	Window15m = 15 * time.Minute
	// WindowSpan is how far back the challenge function reads: the 15-minute window plus
	// the minute it starts in.
	WindowSpan = Window15m + time.Minute
)

// Counts are outcomes counted in one minute or window.
type Counts struct {
	Issued, Refused, Passed, Failed int
}

// Requests counts challenge requests: issued and refused.
func (c Counts) Requests() int { return c.Issued + c.Refused }

// Add returns c + o.
func (c Counts) Add(o Counts) Counts {
	return Counts{c.Issued + o.Issued, c.Refused + o.Refused, c.Passed + o.Passed, c.Failed + o.Failed}
}

// Minutes maps a minute (Unix seconds / 60) to its counts.
type Minutes map[int64]Counts

// MinuteOf is the Minutes key of t.
func MinuteOf(t time.Time) int64 { return t.Unix() / 60 }

// Window sums the counts of the sliding window of length d that ends at now. Minutes
// wholly inside count fully; the minute the window starts in counts in proportion to its
// overlap, as if its events were spread evenly (the current minute's events all happened
// before now, so it counts fully). Minutes after now (clock skew) count fully.
func (m Minutes) Window(now time.Time, d time.Duration) Counts {
	var sum [4]float64
	start := float64(now.UnixNano())/1e9 - d.Seconds()
	nowSec := float64(now.UnixNano()) / 1e9
	for k, c := range m {
		lo := float64(k * 60)
		hi := math.Min(lo+60, nowSec)
		var w float64
		switch {
		case hi <= lo: // a minute after now
			w = 1
		case hi <= start:
			continue
		case lo >= start:
			w = 1
		default:
			w = (hi - start) / (hi - lo)
		}
		sum[0] += w * float64(c.Issued)
		sum[1] += w * float64(c.Refused)
		sum[2] += w * float64(c.Passed)
		sum[3] += w * float64(c.Failed)
	}
	r := func(v float64) int { return int(math.Floor(v + 0.5)) }
	return Counts{r(sum[0]), r(sum[1]), r(sum[2]), r(sum[3])}
}

// Pseudonyms are the risk function's keyed pseudonyms of one address and of its subnet,
// made with one day's salt (RiskPseudonyms).
type Pseudonyms struct {
	IP, Subnet string
}

// WindowQuery asks for an address's counters between From and To. Keys holds the
// pseudonyms per UTC day ("2006-01-02"): a minute is counted under the pseudonyms of its
// own day, because each day's salt makes different ones.
type WindowQuery struct {
	From, To time.Time
	Keys     map[string]Pseudonyms
}

// RiskWindows are an address's counters as the risk function keeps them.
type RiskWindows struct {
	IP, Subnet Minutes
	// Solves are the address's recent solve times (challenge issue to answer), in no
	// particular order.
	Solves []time.Duration
}

// IPState is the risk library's view of the windows at now: challenge requests seen
// before this one in the last 1 and 15 minutes.
func (w RiskWindows) IPState(now time.Time) risk.IPState {
	return risk.IPState{
		IP1m:         w.IP.Window(now, Window1m).Requests(),
		IP15m:        w.IP.Window(now, Window15m).Requests(),
		Subnet1m:     w.Subnet.Window(now, Window1m).Requests(),
		Subnet15m:    w.Subnet.Window(now, Window15m).Requests(),
		RecentSolves: w.Solves,
	}
}

// RiskWindowReader reads the risk function's counters (shared/dynamo.Risk).
type RiskWindowReader interface {
	Windows(ctx context.Context, q WindowQuery) (RiskWindows, error)
}
