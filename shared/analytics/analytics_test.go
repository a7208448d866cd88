package analytics_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/challenge"
)

func TestEveryOutcomeCountsInItsCell(t *testing.T) {
	for outcome, want := range map[challenge.Outcome]analytics.Cell{
		challenge.OutcomeIssued:  analytics.Challenges,
		challenge.OutcomeRefused: analytics.Blocked,
		challenge.OutcomePassed:  analytics.Passes,
		challenge.OutcomeFailed:  analytics.Fails,
	} {
		if got, ok := analytics.CellOf(challenge.RiskEvent{Outcome: outcome}); !ok || got != want {
			t.Errorf("%s counts in %q (%v), want %q", outcome, got, ok, want)
		}
	}
	if _, ok := analytics.CellOf(challenge.RiskEvent{Outcome: "timeout"}); ok {
		t.Error("an unknown outcome counts somewhere")
	}
}

// final is a time at which every day the tests publish is final.
var final = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func value(p analytics.Published, c analytics.Cell) string {
	if v := p.Values[c]; v != nil {
		return fmt.Sprint(*v)
	}
	return "hidden"
}

func TestSmallCellsAreSuppressedAndZeroShown(t *testing.T) {
	p := analytics.Publish("2026-11-30", analytics.Counts{analytics.Challenges: 123, analytics.Passes: 100, analytics.Fails: 10, analytics.Blocked: 0}, final)
	if value(p, analytics.Challenges) != "123" || value(p, analytics.Passes) != "100" || value(p, analytics.Fails) != "hidden" ||
		value(p, analytics.Blocked) != "0" || !slices.Equal(p.Suppressed, []analytics.Cell{analytics.Fails}) {
		t.Fatalf("%+v %v", p, p.Suppressed)
	}
	for n, want := range map[int]string{0: "0", 1: "hidden", 10: "hidden", 11: "11", 5000: "5000"} {
		p := analytics.Publish("2026-11-30", analytics.Counts{analytics.Blocked: n}, final)
		if got := value(p, analytics.Blocked); got != want {
			t.Errorf("blocked %d shown as %s, want %s", n, got, want)
		}
	}
	if p := analytics.Publish("2026-11-30", nil, final); len(p.Suppressed) != 0 || value(p, analytics.Challenges) != "0" || value(p, analytics.Fails) != "0" {
		t.Errorf("a day without traffic: %+v", p)
	}
}

// 1000 challenges and 999 passes would give the single fail away: challenges hides too.
func TestChallengesHideWhenTheyWouldGiveAnAnswerCellAway(t *testing.T) {
	cases := []struct {
		c, p, f int
		want    []analytics.Cell
	}{
		{1000, 999, 1, []analytics.Cell{analytics.Challenges, analytics.Fails}},
		{20, 11, 9, []analytics.Cell{analytics.Challenges, analytics.Fails}},
		{21, 3, 11, []analytics.Cell{analytics.Challenges, analytics.Passes}}, // passes <= 10 (see Publish on the threshold)
		{22, 11, 4, []analytics.Cell{analytics.Fails}},                        // fails <= 11 says nothing suppression does not
		{30, 4, 5, []analytics.Cell{analytics.Passes, analytics.Fails}},       // both hidden: the sum bound is loose
		{15, 0, 7, []analytics.Cell{analytics.Fails}},                         // fails <= 15
	}
	for _, c := range cases {
		p := analytics.Publish("2026-11-30", analytics.Counts{analytics.Challenges: c.c, analytics.Passes: c.p, analytics.Fails: c.f}, final)
		if !slices.Equal(p.Suppressed, c.want) {
			t.Errorf("challenges %d passes %d fails %d: suppressed %v, want %v", c.c, c.p, c.f, p.Suppressed, c.want)
		}
	}
}

// A reader who knows the rules and that passes + fails <= challenges lists every day that
// would publish what they see: every suppressed cell must still have at least 9 possible
// values. (Not all 10: when everything is hidden, challenges <= 10 caps passes + fails at
// 10, so each is at most 9 — inherent to a small day; see Publish.)
func TestNoSuppressedCellCanBeWorkedOut(t *testing.T) {
	type obs [4]string
	const maxC, maxA = 50, 40
	candidates := map[obs]map[analytics.Cell]map[int]bool{}
	for c := 0; c <= maxC; c++ {
		for p := 0; p <= maxA; p++ {
			for f := 0; f <= maxA && p+f <= c; f++ {
				counts := analytics.Counts{analytics.Challenges: c, analytics.Passes: p, analytics.Fails: f}
				pub := analytics.Publish("2026-11-30", counts, final)
				var o obs
				for i, cell := range analytics.Cells {
					o[i] = value(pub, cell)
				}
				if candidates[o] == nil {
					candidates[o] = map[analytics.Cell]map[int]bool{analytics.Challenges: {}, analytics.Passes: {}, analytics.Fails: {}}
				}
				for _, cell := range []analytics.Cell{analytics.Challenges, analytics.Passes, analytics.Fails} {
					candidates[o][cell][counts[cell]] = true
				}
			}
		}
	}
	checked := 0
	for o, cells := range candidates {
		for i, cell := range []analytics.Cell{analytics.Challenges, analytics.Passes, analytics.Fails} {
			if o[i] != "hidden" {
				continue
			}
			checked++
			if cell == analytics.Challenges {
				// Hidden to protect an answer cell it may be large, so count all values.
				if len(cells[cell]) < analytics.MinCell-2 {
					t.Errorf("%v: challenges narrowed to %v", o, keys(cells[cell]))
				}
				continue
			}
			possible := 0
			for n := 1; n < analytics.MinCell; n++ {
				if cells[cell][n] {
					possible++
				}
			}
			if possible < analytics.MinCell-2 || len(cells[cell]) != possible {
				t.Errorf("%v: %s narrowed to %v", o, cell, keys(cells[cell]))
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d suppressed cells checked", checked)
	}
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestQueryRanges(t *testing.T) {
	now := time.Date(2026, 11, 30, 19, 32, 0, 0, time.UTC)
	q, err := analytics.ParseQuery("2026-11-28", "2026-11-30", now)
	if err != nil || !slices.Equal(q.Days(), []string{"2026-11-28", "2026-11-29", "2026-11-30"}) {
		t.Fatalf("%v %v", q.Days(), err)
	}
	if q, err := analytics.ParseQuery("2026-09-02", "2026-11-30", now); err != nil || len(q.Days()) != analytics.MaxDays {
		t.Fatalf("90 days: %d %v", len(q.Days()), err)
	}
	// The oldest day still kept: 13 months before today.
	if _, err := analytics.ParseQuery("2025-10-30", "2025-11-30", now); err != nil {
		t.Fatalf("the oldest kept day: %v", err)
	}
	for _, c := range []struct {
		from, to string
		want     error
	}{
		{"", "2026-11-30", analytics.ErrBadDate},
		{"2026-11-30", "", analytics.ErrBadDate},
		{"2026-11-31", "2026-11-30", analytics.ErrBadDate},
		{"30.11.2026", "2026-11-30", analytics.ErrBadDate},
		{"2026-11-30T00:00:00Z", "2026-11-30", analytics.ErrBadDate},
		{"2026-11-30", "2026-11-29", analytics.ErrReversed},
		{"2026-09-01", "2026-11-30", analytics.ErrTooLong},
		{"2026-11-30", "2026-12-01", analytics.ErrFuture},
		{"2025-10-29", "2025-11-30", analytics.ErrNotKeptSince},
	} {
		if _, err := analytics.ParseQuery(c.from, c.to, now); !errors.Is(err, c.want) {
			t.Errorf("%q..%q: %v, want %v", c.from, c.to, err, c.want)
		}
	}
}

// A day is kept 13 months after it ends, and queries reach exactly as far back.
func TestRetention(t *testing.T) {
	day := time.Date(2025, 10, 30, 0, 0, 0, 0, time.UTC)
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // 2025-10-30 ended 2025-10-31 00:00
	if got := analytics.Expires(day.Add(15 * time.Hour)); !got.Equal(end) {
		t.Fatalf("expires %v, want %v", got, end)
	}
	if _, err := analytics.ParseQuery("2025-10-30", "2025-10-30", end.Add(-time.Second)); err != nil {
		t.Fatalf("the last second the day is kept: %v", err)
	}
	if _, err := analytics.ParseQuery("2025-10-30", "2025-10-30", end); !errors.Is(err, analytics.ErrNotKeptSince) {
		t.Fatalf("a day asked for when its aggregate expires: %v", err)
	}
}

// A day's counts are shown only once they are final, FinalAfter after the day ends: until
// then every cell is null and nothing is named suppressed, however large the counts; from
// then on the counts are shown with the usual suppression, the same at every later time.
func TestADayIsPublishedOnlyOnceFinal(t *testing.T) {
	counts := analytics.Counts{analytics.Challenges: 1000, analytics.Passes: 999, analytics.Fails: 1, analytics.Blocked: 40}
	finalAt := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC) // 2026-11-30 ends 12-01 00:00, + 24 h
	if got := analytics.FinalAt(time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)); !got.Equal(finalAt) {
		t.Fatalf("2026-11-30 final at %v, want %v", got, finalAt)
	}
	for _, now := range []time.Time{
		time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), // today
		time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),   // just ended
		finalAt.Add(-time.Nanosecond),                  // the last moment before final
	} {
		p := analytics.Publish("2026-11-30", counts, now)
		if p.Final || len(p.Suppressed) != 0 || p.Date != "2026-11-30" {
			t.Errorf("at %v: %+v, want the day listed, not final, nothing suppressed", now, p)
		}
		for _, cell := range analytics.Cells {
			if p.Values[cell] != nil {
				t.Errorf("at %v: %s shown as %d before the day is final", now, cell, *p.Values[cell])
			}
		}
	}
	for _, now := range []time.Time{finalAt, finalAt.Add(time.Hour), finalAt.AddDate(1, 0, 0)} {
		p := analytics.Publish("2026-11-30", counts, now)
		if !p.Final || value(p, analytics.Passes) != "999" || value(p, analytics.Blocked) != "40" || value(p, analytics.Fails) != "hidden" ||
			value(p, analytics.Challenges) != "hidden" || !slices.Equal(p.Suppressed, []analytics.Cell{analytics.Challenges, analytics.Fails}) {
			t.Errorf("at %v: %+v %v, want the final day with challenges and fails suppressed", now, p, p.Suppressed)
		}
	}
	if p := analytics.Publish("not a day", counts, finalAt); p.Final || p.Values[analytics.Passes] != nil {
		t.Errorf("a malformed date published: %+v", p)
	}
}

// An event is counted only while its day is not final, and stops CountMargin before, so
// that no count lands on a day already shown: a redrive days later counts nothing.
func TestAnEventIsCountableOnlyBeforeItsDayIsFinal(t *testing.T) {
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	finalAt := analytics.FinalAt(day)
	for now, want := range map[time.Time]bool{
		day.Add(time.Minute):                                  true,
		day.Add(24 * time.Hour):                               true, // the next day
		finalAt.Add(-analytics.CountMargin - time.Nanosecond): true,
		finalAt.Add(-analytics.CountMargin):                   false,
		finalAt.Add(-time.Second):                             false,
		finalAt:                                               false,
		finalAt.AddDate(0, 0, 3):                              false, // a redrive from the dead-letter queue
	} {
		if got := analytics.Countable(day.Add(15*time.Hour), now); got != want {
			t.Errorf("an event of %s at %v countable %v, want %v", day.Format(time.DateOnly), now, got, want)
		}
		if !analytics.Countable(day, now) && !analytics.Final(day, now.Add(analytics.CountMargin)) {
			t.Errorf("at %v counting stopped although the day is not final a margin later", now)
		}
	}
}
