package privacy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

func date(t *testing.T, s string) privacy.Date {
	t.Helper()
	d, err := privacy.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAddBusinessDays(t *testing.T) {
	for _, c := range []struct {
		from string
		n    int
		want string
	}{
		{"2026-11-30", 0, "2026-11-30"},  // nothing to add
		{"2026-11-30", 1, "2026-12-01"},  // Mon → Tue
		{"2026-11-30", 10, "2026-12-14"}, // two full weeks
		{"2026-12-04", 1, "2026-12-07"},  // Fri → Mon: the weekend does not count
		{"2026-12-04", 10, "2026-12-18"},
		{"2026-12-05", 1, "2026-12-07"}, // received on a Saturday
		{"2026-12-05", 10, "2026-12-18"},
		{"2026-12-06", 10, "2026-12-18"}, // received on a Sunday
		{"2026-12-24", 10, "2027-01-07"}, // over Christmas and New Year: holidays count as business days
		{"2027-12-31", 1, "2028-01-03"},  // year end on a Friday
		{"2027-12-31", 15, "2028-01-21"},
		{"2028-02-25", 3, "2028-03-01"}, // through a leap day (Tue 29 Feb counts)
		{"2028-02-25", 10, "2028-03-10"},
	} {
		if got := date(t, c.from).AddBusinessDays(c.n).String(); got != c.want {
			t.Errorf("%s + %d business days = %s, want %s", c.from, c.n, got, c.want)
		}
	}
}

func TestAddMonths(t *testing.T) {
	for _, c := range []struct {
		from string
		n    int
		want string
	}{
		{"2026-12-15", 1, "2027-01-15"}, // over the year end
		{"2027-01-31", 1, "2027-02-28"}, // clamped to a short month
		{"2028-01-31", 1, "2028-02-29"}, // leap year
		{"2028-02-29", 1, "2028-03-29"},
		{"2026-03-31", 1, "2026-04-30"},
		{"2026-05-31", 1, "2026-06-30"},
		{"2026-08-31", 3, "2026-11-30"},
		{"2026-11-30", 3, "2027-02-28"},
		{"2027-11-30", 3, "2028-02-29"},
		{"2028-11-30", 3, "2029-02-28"},
		{"2026-12-31", 2, "2027-02-28"},
		{"2027-01-31", 3, "2027-04-30"},
	} {
		if got := date(t, c.from).AddMonths(c.n).String(); got != c.want {
			t.Errorf("%s + %d months = %s, want %s", c.from, c.n, got, c.want)
		}
	}
}

func TestComputeDeadlines(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name     string
		reg      privacy.Regulation
		typ      privacy.Type
		received string
		ack      string // "" none
		response string
		extended string // "" no extension
	}{
		{"ccpa access", privacy.CCPA, privacy.TypeAccess, "2026-11-30T19:30:00Z", "2026-12-14", "2027-01-14", "2027-02-28"},
		{"ccpa delete in a leap year", privacy.CCPA, privacy.TypeDelete, "2028-01-15T12:00:00Z", "2028-01-28", "2028-02-29", "2028-04-14"},
		{"ccpa correct, non-leap", privacy.CCPA, privacy.TypeCorrect, "2027-01-15T12:00:00Z", "2027-01-29", "2027-03-01", "2027-04-15"},
		// 03:00 UTC on 1 December is still 30 November in California (and in UTC-12):
		// counting from the UTC date would give every deadline one day late.
		{"early UTC hours count for the previous day", privacy.CCPA, privacy.TypeAccess, "2026-12-01T03:00:00Z", "2026-12-14", "2027-01-14", "2027-02-28"},
		{"noon UTC is the same day everywhere west", privacy.CCPA, privacy.TypeAccess, "2026-12-01T12:00:00Z", "2026-12-15", "2027-01-15", "2027-03-01"},
		{"ccpa opt-out: 15 business days, no ack, no extension", privacy.CCPA, privacy.TypeOptOut, "2026-12-24T15:00:00Z", "", "2027-01-14", ""},
		{"ccpa limit", privacy.CCPA, privacy.TypeLimit, "2026-11-30T19:30:00Z", "", "2026-12-21", ""},
		{"ccpa child deletion", privacy.CCPA, privacy.TypeChildDelete, "2026-11-30T19:30:00Z", "2026-12-14", "2027-01-14", "2027-02-28"},
		{"gdpr: one month, clamped", privacy.GDPR, privacy.TypeAccess, "2027-01-31T20:00:00Z", "2027-02-12", "2027-02-28", "2027-04-30"},
		{"gdpr in a leap year", privacy.GDPR, privacy.TypeDelete, "2028-01-31T20:00:00Z", "2028-02-14", "2028-02-29", "2028-04-30"},
		{"gdpr opt-out keeps the GDPR clock", privacy.GDPR, privacy.TypeOptOut, "2026-11-30T19:30:00Z", "2026-12-14", "2026-12-30", "2027-02-28"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := privacy.ComputeDeadlines(c.reg, c.typ, at(c.received))
			if d.Ack.String() != c.ack || d.Response.String() != c.response || !d.Extended.IsZero() {
				t.Errorf("deadlines %+v; want ack %q response %q", d, c.ack, c.response)
			}
			if d.Due() != d.Response {
				t.Errorf("Due() before an extension = %s", d.Due())
			}
			ext, ok := privacy.ExtendedDeadline(c.reg, c.typ, at(c.received))
			if ok != (c.extended != "") || ext.String() != c.extended {
				t.Errorf("extension %s (%v), want %q", ext, ok, c.extended)
			}
		})
	}
}

func TestOverdue(t *testing.T) {
	received := time.Date(2026, 11, 30, 19, 30, 0, 0, time.UTC)
	base := privacy.Request{Status: privacy.StatusVerified, ReceivedAt: received, AckedAt: received,
		Deadlines: privacy.ComputeDeadlines(privacy.CCPA, privacy.TypeAccess, received)}
	unacked := base
	unacked.AckedAt = time.Time{}
	extended := base
	extended.Deadlines.Extended = date(t, "2027-02-28")
	closed := base
	closed.Status = privacy.StatusCompleted
	for _, c := range []struct {
		name  string
		r     privacy.Request
		today string
		want  bool
	}{
		{"on the response date", base, "2027-01-14", false},
		{"the day after", base, "2027-01-15", true},
		{"extended: the old date no longer counts", extended, "2027-01-15", false},
		{"extended: past the new date", extended, "2027-03-01", true},
		{"unacknowledged on the ack date", unacked, "2026-12-14", false},
		{"unacknowledged after the ack date", unacked, "2026-12-15", true},
		{"acknowledged after the ack date", base, "2026-12-15", false},
		{"finished requests are never overdue", closed, "2028-01-01", false},
	} {
		if got := c.r.Overdue(date(t, c.today)); got != c.want {
			t.Errorf("%s: Overdue(%s) = %v", c.name, c.today, got)
		}
	}
}

func TestDateText(t *testing.T) {
	var v struct {
		D privacy.Date `json:"d"`
		Z privacy.Date `json:"z"`
	}
	if err := json.Unmarshal([]byte(`{"d":"2028-02-29","z":""}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.D != privacy.NewDate(2028, 2, 29) || !v.Z.IsZero() {
		t.Fatalf("decoded %+v", v)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"d":"2028-02-29","z":""}` {
		t.Fatalf("encoded %s", b)
	}
	for _, bad := range []string{"2027-02-29", "29.02.2028", "2028-2-29"} {
		if _, err := privacy.ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
}
