package privacy

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Accessibility records (shared/accessibility): the pending sign-ups, tokens and rate-limit
// counters of a person who passes challenges with text questions. They live in the
// accounts table under the subject hash of the address they signed up with, so a request
// finds them even when the address holds no integrator or customer account.

// Kinds of accessibility records (erasure report and access package).
const (
	KindAccessibilitySignup    = "accessibility_signup"
	KindAccessibilityToken     = "accessibility_token"
	KindAccessibilityRateLimit = "accessibility_rate_limit"
)

// ExecAccessibility is the executor of the accessibility records.
const ExecAccessibility = "accessibility"

// HoldAccessibility is what AccessibilityData.Holds reports for a subject with
// accessibility records (Request.Holds).
const HoldAccessibility = "accessibility"

// AccessibilityRecord is one accessibility record as the executors see it.
type AccessibilityRecord struct {
	// Key addresses the record for DeleteAccessibility; it is never written to a package,
	// report or log (it contains hashes).
	Key       string
	Kind      string // KindAccessibility*
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AccessibilityData is the accessibility records of the accounts table
// (shared/dynamo.Accessibility).
type AccessibilityData interface {
	// AccessibilityOf returns every record of a subject hash, expired ones that are
	// still stored included.
	AccessibilityOf(ctx context.Context, subjectHash string) ([]AccessibilityRecord, error)
	// DeleteAccessibility removes records by key and returns the keys of those it
	// removed, also when it fails part-way: a key already gone is no error and not among
	// them, so the report counts each record once, by the deletion that removed it.
	DeleteAccessibility(ctx context.Context, keys []string) ([]string, error)
	// FenceAccessibility fences a subject hash from now for accessibility.FenceTTL: no
	// token of it is stored from then on, and none stored before works. The erasure
	// lists the records only after, so a confirmation racing it either commits before
	// the fence (and is refused on use even if the listing misses it: gsi1 lists a record
	// only a moment after its write) or is refused. Fencing again extends the fence.
	FenceAccessibility(ctx context.Context, subjectHash string, now time.Time) error
}

// eraseAccessibility fences the request's subject (FenceAccessibility), then deletes every
// accessibility record of it, Batch at a time, counting them by kind for the erasure
// report. It needs no account: the subject hash finds them.
func (d ExecDeps) eraseAccessibility(ctx context.Context, r Request, _ Holders, p *progress) (bool, error) {
	if d.Accessibility == nil {
		return true, nil
	}
	if p.Phase == 0 {
		// The fence first, in a checkpoint of its own: once it is up no token of the
		// subject commits, and one made just before it, which the listing below may not
		// see yet, no longer works.
		if err := d.Accessibility.FenceAccessibility(ctx, r.SubjectHash, d.Now()); err != nil {
			return false, fmt.Errorf("fence accessibility records: %w", err)
		}
		p.Phase = 1
		return false, nil
	}
	recs, err := d.Accessibility.AccessibilityOf(ctx, r.SubjectHash)
	if err != nil {
		return false, fmt.Errorf("list accessibility records: %w", err)
	}
	n := min(len(recs), Batch)
	keys := make([]string, n)
	kinds := make(map[string]string, n)
	for i, rec := range recs[:n] {
		keys[i] = rec.Key
		kinds[rec.Key] = rec.Kind
	}
	if n > 0 {
		// Only what this deletion removed is counted, also when it fails part-way: the
		// retry no longer lists those, and a record listed but already gone went with an
		// earlier attempt, which counted it, or with its ttl.
		gone, err := d.Accessibility.DeleteAccessibility(ctx, keys)
		for _, k := range gone {
			p.add(kinds[k], 1)
		}
		if err != nil {
			return false, fmt.Errorf("delete accessibility records: %w", err)
		}
	}
	return len(recs) <= n, nil
}

// accessAccessibility lists the subject's unexpired accessibility records: what they are
// and when they were made and expire, never the hashes they are kept under.
func (d ExecDeps) accessAccessibility(ctx context.Context, r Request, _ Holders, p *progress) (bool, error) {
	var recs []Record
	if d.Accessibility != nil {
		held, err := d.Accessibility.AccessibilityOf(ctx, r.SubjectHash)
		if err != nil {
			return false, fmt.Errorf("list accessibility records: %w", err)
		}
		now := d.Now()
		for _, h := range held {
			if !now.Before(h.ExpiresAt) {
				continue // DynamoDB deletes lazily; an expired record is no longer used
			}
			recs = append(recs, Record{Store: storeAccounts, Kind: h.Kind, ID: h.Kind + "-" + strconv.Itoa(len(recs)+1), Fields: map[string]string{
				"created_at": ts(h.CreatedAt), "expires_at": ts(h.ExpiresAt),
			}})
		}
	}
	return true, d.writePart(ctx, r, ExecAccessibility, recs, p)
}

// SubjectData finds data held under a subject hash alone, without an account
// (shared/dynamo.Accessibility): Holds names its kinds (HoldAccessibility), none if
// nothing unexpired is held.
type SubjectData interface {
	Holds(ctx context.Context, subjectHash string) ([]string, error)
}
