// Package analytics is the integrator's daily, de-identified view of a site's traffic:
// per UTC day, how many challenges were issued, passed, failed and how many requests the
// risk checks blocked. It decides which risk events count in which cell, when a day's
// counts are final (shown, and never changed again), which cells are too small to show
// (and which others must hide with them), how long the aggregates are kept and which date
// ranges may be asked for. No AWS code lives here (shared/dynamo stores the aggregates).
package analytics

import (
	"errors"
	"fmt"
	"time"

	"github.com/crowdgate/crowdgate/shared/challenge"
)

// MinCell is the smallest count shown: a count of 1..MinCell-1 is suppressed, because a
// handful of visitors on one site on one day may be singled out by what else the reader
// knows. Zero is shown: it says nobody did something, which reveals nothing about anyone.
const MinCell = 11

// RetentionMonths is how long a day's aggregate is kept after the day ends: a year, so the
// same day or month can be compared with last year's, plus one month so that a whole month
// can still be compared with its predecessor a year before (docs/PRIVACY.md).
const RetentionMonths = 13

// MaxDays is the longest range one query may ask for.
const MaxDays = 90

// FinalAfter is how long after a UTC day ends its counts become final: only then are they
// published, and they never change afterwards. A day's counts shown while they grow would
// let a reader who polls them match each +1 (a fail, a blocked request) with their own
// request logs and so single out the visitor; a final day's counts are one snapshot.
// It is as long as an event may wait to be counted (challenge.RiskEventRetention: retries),
// so a day is final once its events, even its last moment's, had their chance.
const FinalAfter = 24 * time.Hour

// CountMargin is how long before a day is final its counting stops: a count decided just
// before would otherwise land just after (a consumer invocation runs for seconds, SDK
// retries included; a read may lag a write by a moment), changing a day already shown.
const CountMargin = time.Minute

// Cell names a count of a day (the JSON field names of the API).
type Cell string

const (
	// Challenges issued (a refused request is not a challenge).
	Challenges Cell = "challenges"
	// Passes and Fails are answers, by outcome.
	Passes Cell = "passes"
	Fails  Cell = "fails"
	// Blocked are requests for a challenge the risk checks refused.
	Blocked Cell = "blocked"
)

// Cells lists every cell in the order the API shows them.
var Cells = []Cell{Challenges, Passes, Fails, Blocked}

// CellOf is the cell a risk event counts in; false for an event that counts nowhere.
func CellOf(ev challenge.RiskEvent) (Cell, bool) {
	switch ev.Outcome {
	case challenge.OutcomeIssued:
		return Challenges, true
	case challenge.OutcomePassed:
		return Passes, true
	case challenge.OutcomeFailed:
		return Fails, true
	case challenge.OutcomeRefused:
		return Blocked, true
	}
	return "", false
}

// DayOf is the UTC day an event counts on: the day it happened (the day whose salt made
// its pseudonyms, RiskEvent.Day).
func DayOf(ev challenge.RiskEvent) string { return ev.Day }

// Counts are one site's counts of one day.
type Counts map[Cell]int

// Expires is when the aggregate of day (a UTC date) is deleted: RetentionMonths after the
// day ended.
func Expires(day time.Time) time.Time {
	d := day.UTC().Truncate(24 * time.Hour)
	return d.AddDate(0, RetentionMonths, 1)
}

// FinalAt is when the counts of day (any time in it; UTC) become final: FinalAfter after
// the day ends.
func FinalAt(day time.Time) time.Time {
	return day.UTC().Truncate(24 * time.Hour).Add(24*time.Hour + FinalAfter)
}

// Final reports whether day's counts are final at now, and so published.
func Final(day, now time.Time) bool { return !now.Before(FinalAt(day)) }

// Countable reports whether an event of day may still be added to its counts at now:
// until CountMargin before the day is final. An event processed later (a redrive from the
// dead-letter queue, a retry) is not counted; it is not a failure, and everything else
// the event feeds still takes it.
func Countable(day, now time.Time) bool { return now.Before(FinalAt(day).Add(-CountMargin)) }

// Suppressed reports whether a count is too small to show (1..MinCell-1).
func Suppressed(n int) bool { return n >= 1 && n < MinCell }

// Published is a day as the integrator sees it. A day not yet Final shows no count: every
// cell is nil and Suppressed is empty (nothing was hidden for being small; the day is
// withheld whole). On a final day a nil cell is suppressed, and Suppressed lists the
// suppressed cells in Cells order.
type Published struct {
	Date       string
	Final      bool
	Values     map[Cell]*int
	Suppressed []Cell
}

// Publish is date's counts c as shown at now: nothing until the day is Final (FinalAfter),
// then the counts with the suppression rules applied. A date that is no date is never
// final.
//
// Primary: every count of 1..MinCell-1 is hidden.
//
// Complementary: the cells are not independent. Every answer belongs to one issued
// challenge, so passes + fails <= challenges (nearly: an answer just after midnight counts
// on the next day; a reader may still assume it). With challenges C and one answer cell Y
// shown, the other, hidden answer cell X is at most C − Y. Suppression alone tells the
// reader X is in 1..MinCell-1; when C − Y is below MinCell the relation narrows that
// (C=1000, passes=999 would give fails=1), so challenges is hidden as well. The threshold
// is MinCell, not MinCell-1, so that hiding C says only C − Y <= MinCell-1, which bounds X
// by no more than suppression already does. With both answer cells hidden and C shown,
// C − 1 >= MinCell-1 bounds neither further; with all three hidden, C <= MinCell-1 caps
// each answer cell at MinCell-2 — one value less, inherent to a day that small. Blocked requests are not challenges and relate to no other cell,
// and the API offers no totals (over days, sites or cells) that a hidden cell could be
// subtracted from, so no other relation exists. Nor does time: a day is shown once, final,
// not while it grows (each +1 of a day shown as it grows would be a difference of two
// published counts).
func Publish(date string, c Counts, now time.Time) Published {
	p := Published{Date: date, Values: map[Cell]*int{}}
	day, err := time.Parse(time.DateOnly, date)
	if err != nil || !Final(day, now) {
		return p
	}
	p.Final = true
	hidden := map[Cell]bool{}
	for _, cell := range Cells {
		hidden[cell] = Suppressed(c[cell])
	}
	for _, pair := range [][2]Cell{{Passes, Fails}, {Fails, Passes}} {
		x, y := pair[0], pair[1]
		if hidden[x] && !hidden[y] && !hidden[Challenges] && c[Challenges]-c[y] < MinCell {
			hidden[Challenges] = true
		}
	}
	for _, cell := range Cells {
		if hidden[cell] {
			p.Suppressed = append(p.Suppressed, cell)
			p.Values[cell] = nil
			continue
		}
		n := c[cell]
		p.Values[cell] = &n
	}
	return p
}

// Query errors (the handler answers them 400 bad_request).
var (
	ErrBadDate      = errors.New("analytics: from and to must be dates (YYYY-MM-DD)")
	ErrReversed     = errors.New("analytics: from is after to")
	ErrTooLong      = fmt.Errorf("analytics: a query covers at most %d days", MaxDays)
	ErrFuture       = errors.New("analytics: to is after today (UTC)")
	ErrNotKeptSince = fmt.Errorf("analytics: from is before the kept period (%d months)", RetentionMonths)
)

// Query is a validated range of UTC days, both ends included.
type Query struct {
	From, To time.Time
}

// ParseQuery validates from and to (YYYY-MM-DD, UTC days) at time now: both given,
// from <= to, at most MaxDays days, to not after today and from still kept.
func ParseQuery(from, to string, now time.Time) (Query, error) {
	f, err1 := time.Parse(time.DateOnly, from)
	t, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return Query{}, ErrBadDate
	}
	today := now.UTC().Truncate(24 * time.Hour)
	switch {
	case f.After(t):
		return Query{}, ErrReversed
	case t.Sub(f) >= MaxDays*24*time.Hour:
		return Query{}, ErrTooLong
	case t.After(today):
		return Query{}, ErrFuture
	case !now.Before(Expires(f)):
		return Query{}, ErrNotKeptSince
	}
	return Query{From: f, To: t}, nil
}

// Days lists the query's days ("2006-01-02"), oldest first.
func (q Query) Days() []string { return challenge.DaysBetween(q.From, q.To) }
