package handler

import (
	"time"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// deadlinesJSON shows a request's due dates ("YYYY-MM-DD", met if acted on by that UTC date).
type deadlinesJSON struct {
	AcknowledgeBy   *privacy.Date `json:"acknowledge_by,omitempty"`
	RespondBy       privacy.Date  `json:"respond_by"`
	ExtendedTo      *privacy.Date `json:"extended_to,omitempty"`
	ExtensionReason string        `json:"extension_reason,omitempty"`
}

func toDeadlines(d privacy.Deadlines) deadlinesJSON {
	out := deadlinesJSON{RespondBy: d.Response, ExtensionReason: d.ExtensionReason}
	if !d.Ack.IsZero() {
		out.AcknowledgeBy = &d.Ack
	}
	if !d.Extended.IsZero() {
		out.ExtendedTo = &d.Extended
	}
	return out
}

// subjectJSON is a request as its subject sees it: no address, hashes or account ids.
type subjectJSON struct {
	ID             string        `json:"id"`
	Type           string        `json:"type"`
	Regulation     string        `json:"regulation"`
	Status         string        `json:"status"`
	ReceivedAt     time.Time     `json:"received_at"`
	VerifiedAt     *time.Time    `json:"verified_at,omitempty"`
	ClosedAt       *time.Time    `json:"closed_at,omitempty"`
	Deadlines      deadlinesJSON `json:"deadlines"`
	DenyReason     string        `json:"deny_reason,omitempty"`
	DenyReasonText string        `json:"deny_reason_text,omitempty"`
	DenyNote       string        `json:"deny_note,omitempty"`
}

func subjectView(r privacy.Request) subjectJSON {
	out := subjectJSON{
		ID: r.ID, Type: string(r.Type), Regulation: string(r.Regulation), Status: string(r.Status),
		ReceivedAt: r.ReceivedAt.UTC().Truncate(time.Second), VerifiedAt: optTime(r.VerifiedAt), ClosedAt: optTime(r.ClosedAt),
		Deadlines: toDeadlines(r.Deadlines), DenyReason: string(r.DenyReason), DenyNote: r.DenyNote,
	}
	if r.DenyReason != "" {
		out.DenyReasonText = privacy.DenyReasonText[r.DenyReason]
	}
	return out
}

// operatorJSON is a request as the compliance team sees it. The address is not shown: the
// service mails the subject itself, and accounts are named by id.
type operatorJSON struct {
	subjectJSON
	VerificationRequired bool     `json:"verification_required"`
	AccountIDs           []string `json:"account_ids"`
	// Holds names data found under the address that AccountIDs do not show ("customer",
	// "accessibility").
	Holds          []string                `json:"holds,omitempty"`
	Details        string                  `json:"details,omitempty"`
	Corrections    []correctionJSON        `json:"corrections,omitempty"`
	AcknowledgedAt *time.Time              `json:"acknowledged_at,omitempty"`
	ApprovedAt     *time.Time              `json:"approved_at,omitempty"`
	Overdue        bool                    `json:"overdue"`
	Progress       map[string]progressJSON `json:"progress,omitempty"`
	// Report is what the worker did per store and kind of record (the erasure report of
	// a delete); counts only, so it stays with the request for its whole retention.
	Report privacy.Report `json:"report,omitempty"`
}

type progressJSON struct {
	Done  bool `json:"done"`
	Items int  `json:"items"`
}

func operatorView(r privacy.Request, today privacy.Date) operatorJSON {
	out := operatorJSON{
		subjectJSON: subjectView(r), VerificationRequired: r.Type.NeedsVerification(), AccountIDs: r.AccountIDs, Holds: r.Holds,
		Details: r.Details, AcknowledgedAt: optTime(r.AckedAt), ApprovedAt: optTime(r.ApprovedAt), Overdue: r.Overdue(today),
	}
	if out.AccountIDs == nil {
		out.AccountIDs = []string{}
	}
	for _, c := range r.Corrections {
		out.Corrections = append(out.Corrections, correctionJSON{Field: c.Field, Value: c.Value})
	}
	if len(r.Progress) > 0 {
		out.Progress = map[string]progressJSON{}
		for k, v := range r.Progress {
			out.Progress[k] = progressJSON{Done: v.Done, Items: v.Items}
		}
		if rep := privacy.ReportOf(r); len(rep) > 0 {
			out.Report = rep
		}
	}
	return out
}

type actorJSON struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

type auditJSON struct {
	At     time.Time `json:"at"`
	Actor  actorJSON `json:"actor"`
	Action string    `json:"action"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// optTime is t in whole seconds, as every time in the API is (the stores keep more, for
// ordering), or nil when it is unset.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}
