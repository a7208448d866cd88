package job

import (
	"context"
	"fmt"
	"time"
)

// A job created with an expires_at is gone from the API at that moment, and its records go
// by their ttl. Its images cannot: nothing in S3 knows the date, and once the ttl has swept
// the job record nothing else names the job's media prefix. So a job with an expiry leaves
// an Expiry marker, and a daily sweep (SweepExpired) removes what the expiry did not: the
// images under the job's prefix, the items and the job record if the ttl has not swept them
// yet, then the marker.

// Expiry is the marker of a job that expires at At.
type Expiry struct {
	JobID string
	At    time.Time
}

// ExpiryStore is what the sweep needs from job storage. Implementations: shared/dynamo.Jobs,
// jobtest.Store (CreateJob writes the marker of a job with an ExpiresAt).
type ExpiryStore interface {
	// DueExpiries returns up to limit markers whose At is at or before now, earliest first.
	DueExpiries(ctx context.Context, now time.Time, limit int) ([]Expiry, error)
	// DeleteEntries removes up to limit items of the job, expired ones included, and
	// reports whether any remain.
	DeleteEntries(ctx context.Context, jobID string, limit int) (deleted int, more bool, err error)
	// DeleteJob removes the job record and its pool entry (no error if they are gone).
	DeleteJob(ctx context.Context, id string) error
	// DeleteExpiry removes a marker (no error if it is gone).
	DeleteExpiry(ctx context.Context, e Expiry) error
}

// PrefixDeleter is the media bucket as the sweep uses it.
type PrefixDeleter interface {
	// DeletePrefix removes up to limit objects (every version) under prefix and reports
	// whether any remain.
	DeletePrefix(ctx context.Context, prefix string, limit int) (deleted int, more bool, err error)
}

// Sweep is what one SweepExpired call removed.
type Sweep struct {
	Jobs, Items, Objects int
	// Done is false when the call stopped early with markers left; calling again
	// continues (every step is idempotent).
	Done bool
}

// SweepExpired removes what is left of every job whose expiry is due at now, in bounded
// steps of DeleteBatch. Before each step it asks late (nil: never) whether to stop, so a
// caller can stop before its deadline. A marker goes last, so a crash leaves it for the
// next sweep.
func SweepExpired(ctx context.Context, store ExpiryStore, media PrefixDeleter, now time.Time, late func() bool) (Sweep, error) {
	var sw Sweep
	if late == nil {
		late = func() bool { return false }
	}
	for {
		due, err := store.DueExpiries(ctx, now, DeleteBatch)
		if err != nil {
			return sw, fmt.Errorf("list expired jobs: %w", err)
		}
		if len(due) == 0 {
			sw.Done = true
			return sw, nil
		}
		for _, e := range due {
			for more := true; more; {
				if late() {
					return sw, nil
				}
				var n int
				if n, more, err = store.DeleteEntries(ctx, e.JobID, DeleteBatch); err != nil {
					return sw, fmt.Errorf("delete items of expired job %s: %w", e.JobID, err)
				}
				sw.Items += n
			}
			for more := true; more; {
				if late() {
					return sw, nil
				}
				var n int
				if n, more, err = media.DeletePrefix(ctx, MediaPrefix(e.JobID), DeleteBatch); err != nil {
					return sw, fmt.Errorf("delete media of expired job %s: %w", e.JobID, err)
				}
				sw.Objects += n
			}
			if err := store.DeleteJob(ctx, e.JobID); err != nil {
				return sw, fmt.Errorf("delete expired job %s: %w", e.JobID, err)
			}
			if err := store.DeleteExpiry(ctx, e); err != nil {
				return sw, fmt.Errorf("delete expiry marker of job %s: %w", e.JobID, err)
			}
			sw.Jobs++
		}
	}
}
