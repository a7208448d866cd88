package privacy

import (
	"fmt"
	"time"
)

// Date is a calendar date (no time of day, no zone). The zero Date means "none".
type Date struct{ t time.Time } // midnight UTC of the date

// NewDate returns the date y-m-d (normalised like time.Date: 2026-02-30 is 2026-03-02).
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date { return NewDate(t.Year(), t.Month(), t.Day()) }

// ParseDate reads "2006-01-02"; "" is the zero Date.
func ParseDate(s string) (Date, error) {
	if s == "" {
		return Date{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("privacy: bad date %q: %w", s, err)
	}
	return Date{t}, nil
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d.t.IsZero() }

// String is "2006-01-02", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.t.Format(time.DateOnly)
}

// MarshalText implements encoding.TextMarshaler (JSON shows dates as "2006-01-02").
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Before reports whether d is earlier than o; After whether it is later.
func (d Date) Before(o Date) bool { return d.t.Before(o.t) }
func (d Date) After(o Date) bool  { return d.t.After(o.t) }

// Weekday is the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.t.Weekday() }

// AddDays returns d plus n calendar days.
func (d Date) AddDays(n int) Date { return Date{d.t.AddDate(0, 0, n)} }

// AddMonths returns the same day n months later, or the last day of that month when it is
// shorter (Jan 31 + 1 month = Feb 28, or Feb 29 in a leap year). This is how the GDPR's
// "one month" is counted (Regulation 1182/71 Art. 3(2)(c), EDPB Guidelines 01/2022 §160).
func (d Date) AddMonths(n int) Date {
	y, m, day := d.t.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return NewDate(first.Year(), first.Month(), min(day, last))
}

// AddBusinessDays returns the n-th business day after d, counting Monday to Friday only.
// Public holidays are NOT skipped: they count as business days, so a computed deadline is
// never later than the statutory one in any US state or EU country (at worst a few days
// early), and no holiday calendar has to be kept current.
func (d Date) AddBusinessDays(n int) Date {
	for n > 0 {
		d = d.AddDays(1)
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return d
}

// earliestZone is the westernmost time zone (UTC−12), where the calendar date is earliest.
var earliestZone = time.FixedZone("UTC-12", -12*60*60)

// ReceiptDate is the date deadlines are counted from: the calendar date of receipt in the
// westernmost time zone. Counting from the UTC date could make a deadline one day later
// than counted in California's (or any western) local time; the earliest date makes every
// deadline at least as early as in any local time.
func ReceiptDate(received time.Time) Date { return DateOf(received.In(earliestZone)) }

// Deadlines are a request's due dates. A date is met if the action happens on or before it
// (judged by UTC dates).
type Deadlines struct {
	// Ack is when the request must be acknowledged (zero: no acknowledgement is required).
	Ack Date
	// Response is the original response deadline.
	Response Date
	// Extended is the response deadline after the one extension (zero: not extended).
	Extended        Date
	ExtensionReason string
}

// Due is the response deadline in force.
func (d Deadlines) Due() Date {
	if !d.Extended.IsZero() {
		return d.Extended
	}
	return d.Response
}

// Durations of the rules (see deadlineRule).
const (
	AckBusinessDays      = 10 // CCPA regs 11 CCR §7021(a)
	CCPAResponseDays     = 45 // Cal. Civ. Code §1798.130(a)(2), §7021(b)
	CCPAExtendedDays     = 90 // one extension "by an additional 45 days", 90 in total
	CCPAStopBusinessDays = 15 // opt-out and limit requests: 11 CCR §7026(f), §7027(g)
	GDPRResponseMonths   = 1  // Art. 12(3)
	GDPRExtendedMonths   = 3  // "extended by two further months"
	// RetentionMonths is how long every record of a request is kept from receipt: 24 months
	// (11 CCR §7101(a)) after the latest lawful response date (3 months after receipt).
	RetentionMonths = 27
)

// deadlineRule is when a request of one type under one regulation is due.
type deadlineRule struct {
	ack      bool
	response func(Date) Date
	extended func(Date) Date // nil: no extension
}

func ruleFor(reg Regulation, t Type) deadlineRule {
	if reg == GDPR {
		// The GDPR sets no acknowledgement deadline; crowdgate applies the CCPA's to both
		// (the code e-mail acknowledges at once anyway). Every right has the same clock.
		return deadlineRule{
			ack:      true,
			response: func(d Date) Date { return d.AddMonths(GDPRResponseMonths) },
			extended: func(d Date) Date { return d.AddMonths(GDPRExtendedMonths) },
		}
	}
	if t == TypeOptOut || t == TypeLimit {
		// Requests to stop selling or using data: act within 15 business days, no
		// acknowledgement requirement and no extension.
		return deadlineRule{response: func(d Date) Date { return d.AddBusinessDays(CCPAStopBusinessDays) }}
	}
	return deadlineRule{
		ack:      true,
		response: func(d Date) Date { return d.AddDays(CCPAResponseDays) },
		extended: func(d Date) Date { return d.AddDays(CCPAExtendedDays) },
	}
}

// ComputeDeadlines returns the deadlines of a request received at the given instant. The
// clock runs from receipt, not from verification (11 CCR §7021(b)).
func ComputeDeadlines(reg Regulation, t Type, received time.Time) Deadlines {
	day := ReceiptDate(received)
	r := ruleFor(reg, t)
	d := Deadlines{Response: r.response(day)}
	if r.ack {
		d.Ack = day.AddBusinessDays(AckBusinessDays)
	}
	return d
}

// ExtendedDeadline returns the response deadline after the one extension, or false if the
// regulation allows none for this type.
func ExtendedDeadline(reg Regulation, t Type, received time.Time) (Date, bool) {
	r := ruleFor(reg, t)
	if r.extended == nil {
		return Date{}, false
	}
	return r.extended(ReceiptDate(received)), true
}
