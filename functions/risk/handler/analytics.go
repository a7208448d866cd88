package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/web"
)

// CodeSiteNotFound: the analytics of a site the caller does not own, or of no site.
const CodeSiteNotFound = "site_not_found"

// DailyReader reads a site's daily aggregates (*dynamo.Analytics): the days of q that
// have any counts.
type DailyReader interface {
	Daily(ctx context.Context, sitekey string, q analytics.Query) (map[string]analytics.Counts, error)
}

type dayJSON struct {
	Date       string           `json:"date"`
	Final      bool             `json:"final"`
	Challenges *int             `json:"challenges"`
	Passes     *int             `json:"passes"`
	Fails      *int             `json:"fails"`
	Blocked    *int             `json:"blocked"`
	Suppressed []analytics.Cell `json:"suppressed"`
}

type dailyJSON struct {
	Sitekey string    `json:"sitekey"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	MinCell int       `json:"min_cell"`
	Days    []dayJSON `json:"days"`
}

// daily answers GET /v1/analytics/sites/{sitekey}/daily?from=YYYY-MM-DD&to=YYYY-MM-DD:
// one entry per day of the range, zeros for days without traffic, small cells suppressed,
// and no counts at all for a day not yet final (analytics.Publish). Another integrator's site (with a site secret: any other site) is
// 404, exactly like an unknown one. The counts are de-identified aggregates, not
// information about a person, so no disclosure is recorded.
func (d Deps) daily(w http.ResponseWriter, r *http.Request, who caller) {
	sitekey := r.PathValue("sitekey")
	if !who.owns(sitekey) {
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, CodeSiteNotFound, "no site with this sitekey among yours"))
		return
	}
	now := d.Now()
	q, err := analytics.ParseQuery(r.URL.Query().Get("from"), r.URL.Query().Get("to"), now)
	if err != nil {
		web.WriteError(w, r, web.Errorf(http.StatusBadRequest, web.CodeBadRequest, "%s", queryProblem(err)))
		return
	}
	counts, err := d.Analytics.Daily(r.Context(), sitekey, q)
	if err != nil {
		web.WriteError(w, r, fmt.Errorf("analytics: %w", err))
		return
	}
	out := dailyJSON{Sitekey: sitekey, From: q.From.Format("2006-01-02"), To: q.To.Format("2006-01-02"), MinCell: analytics.MinCell, Days: []dayJSON{}}
	for _, day := range q.Days() {
		p := analytics.Publish(day, counts[day], now)
		out.Days = append(out.Days, dayJSON{
			Date: day, Final: p.Final, Challenges: p.Values[analytics.Challenges], Passes: p.Values[analytics.Passes],
			Fails: p.Values[analytics.Fails], Blocked: p.Values[analytics.Blocked], Suppressed: append([]analytics.Cell{}, p.Suppressed...),
		})
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// queryProblem says what is wrong with a range, for the error message.
func queryProblem(err error) string {
	switch {
	case errors.Is(err, analytics.ErrReversed):
		return "from is after to"
	case errors.Is(err, analytics.ErrTooLong):
		return fmt.Sprintf("a query covers at most %d days", analytics.MaxDays)
	case errors.Is(err, analytics.ErrFuture):
		return "to is after today (UTC)"
	case errors.Is(err, analytics.ErrNotKeptSince):
		return fmt.Sprintf("from is before the kept period: daily counts are kept %d months", analytics.RetentionMonths)
	}
	return "from and to are required, as UTC dates YYYY-MM-DD"
}
