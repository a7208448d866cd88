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

// Uploads announced but never committed have the same problem at a smaller scale: the
// pending item goes by its ttl (PendingTTL), but an object the customer uploaded for it
// would stay until the job is deleted, invisible to the customer and to access packages.
// So every AddEntries with pending items leaves an UploadMarker, due UploadGrace after they
// expire, and the sweep removes the objects of the ones that were never committed.
//
// A deleted job has the same problem: an upload link signed before the deletion works for
// UploadTTL, and an image sent through it after the deletion removed the job's media would
// stay under a prefix nothing names. So deleting a job record (Store.DeleteJob: the
// customer's deletion, a privacy erasure, this sweep) leaves an Expiry marker at the
// deletion, unless the job's own expiry has come (its marker is due already). The sweep
// takes a marker only UploadGrace after its At, once every link signed before has
// expired: one prefix delete then is the last word on the job's images, whenever in
// that window the daily sweep runs. Sweeping a deleted job deletes no record, so no marker
// leaves another.

// Why not S3 alone (an object tag signed into the upload link, a lifecycle rule expiring
// tagged objects, the commit removing the tag)? The commit would have to untag the object
// and mark the item in two stores with no order that is safe on a crash, lifecycle
// expiries are only eligible at the next midnight UTC with no bound on when S3 acts, and
// the local stack's S3 (gofakes3) has no tagging: it serves DELETE ?tagging as a delete of
// the object itself. Here the decision is one conditional write on the item record
// (DropPending) against the commit's own (CommitEntry): exactly one of them wins.

// Expiry is the marker of a job that expires at At, or was deleted at At.
type Expiry struct {
	JobID string
	At    time.Time
}

// ExpiryStore is what the sweep needs from job storage. Implementations: shared/dynamo.Jobs,
// jobtest.Store (CreateJob writes the marker of a job with an ExpiresAt).
type ExpiryStore interface {
	// DueExpiries returns up to limit markers whose At is at or before now, earliest first.
	DueExpiries(ctx context.Context, now time.Time, limit int) ([]Expiry, error)
	// DeleteEntries removes up to limit items of the job, expired ones included, then its
	// upload markers (as Store.DeleteEntries), and reports whether any remain.
	DeleteEntries(ctx context.Context, jobID string, limit int) (deleted int, more bool, err error)
	// DeleteJob removes the job record and its pool entry (no error if they are gone),
	// leaving a marker as Store.DeleteJob does: none for a job that is gone or expired.
	DeleteJob(ctx context.Context, id string) error
	// DeleteExpiry removes a marker (no error if it is gone).
	DeleteExpiry(ctx context.Context, e Expiry) error
	// DueUploads returns up to limit upload markers whose Due is at or before now,
	// earliest first.
	DueUploads(ctx context.Context, now time.Time, limit int) ([]UploadMarker, error)
	// DropPending removes the item if it is still pending with the upload key (expired
	// or not), and reports whether key's object is abandoned: true unless the item holds
	// key and was committed. It is atomic with CommitEntry: after it has removed the item
	// no commit succeeds, and after a commit it keeps the item.
	DropPending(ctx context.Context, jobID, itemID, key string) (abandoned bool, err error)
	// DeleteUploadMarker removes a marker (no error if it is gone).
	DeleteUploadMarker(ctx context.Context, m UploadMarker) error
}

// UploadMarker names the image uploads one AddEntries call announced, due for the sweep
// UploadGrace after their items expire.
type UploadMarker struct {
	JobID string
	Due   time.Time
	// Batch tells apart the markers of one job due in the same second.
	Batch   string
	Uploads []PendingUpload
}

// PendingUpload is one announced upload: the item and its object's key.
type PendingUpload struct {
	ItemID, MediaKey string
}

// UploadMarkerFor is the marker of the pending ones among entries (ok false if there are
// none that expire): due UploadGrace after the last of them expires.
func UploadMarkerFor(jobID, batch string, entries []Entry) (m UploadMarker, ok bool) {
	m = UploadMarker{JobID: jobID, Batch: batch}
	for _, e := range entries {
		// A pending item without an expiry is never forgotten; Delete reaches its object.
		if e.Status != ItemPending || e.MediaKey == "" || e.ExpiresAt.IsZero() {
			continue
		}
		m.Uploads = append(m.Uploads, PendingUpload{ItemID: e.ID, MediaKey: e.MediaKey})
		if due := e.ExpiresAt.UTC().Truncate(time.Second).Add(UploadGrace); due.After(m.Due) {
			m.Due = due
		}
	}
	return m, len(m.Uploads) > 0
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
	// Abandoned counts the uploads found never committed (Objects includes what was
	// uploaded for them).
	Abandoned int
	// Done is false when the call stopped early with markers left; calling again
	// continues (every step is idempotent).
	Done bool
}

// SweepExpired removes what is left of every job that expired or was deleted UploadGrace
// or more before now, then the objects of uploads never committed whose marker is due, in
// bounded steps of DeleteBatch. Before each step it asks late (nil: never) whether to
// stop, so a caller can stop before its deadline. A marker goes last, so a crash leaves
// it for the next sweep.
func SweepExpired(ctx context.Context, store ExpiryStore, media PrefixDeleter, now time.Time, late func() bool) (Sweep, error) {
	var sw Sweep
	if late == nil {
		late = func() bool { return false }
	}
	done, err := sweepJobs(ctx, store, media, now, late, &sw)
	if err != nil || !done {
		return sw, err
	}
	done, err = sweepUploads(ctx, store, media, now, late, &sw)
	sw.Done = done && err == nil
	return sw, err
}

func sweepJobs(ctx context.Context, store ExpiryStore, media PrefixDeleter, now time.Time, late func() bool, sw *Sweep) (bool, error) {
	for {
		// Not before every link signed while the job was there has expired: an image sent
		// through one later than this sweep would stay for ever.
		due, err := store.DueExpiries(ctx, now.Add(-UploadGrace), DeleteBatch)
		if err != nil {
			return false, fmt.Errorf("list expired jobs: %w", err)
		}
		if len(due) == 0 {
			return true, nil
		}
		for _, e := range due {
			finished, err := drain(late, &sw.Items, func() (int, bool, error) { return store.DeleteEntries(ctx, e.JobID, DeleteBatch) })
			if err != nil || !finished {
				return false, wrapf(err, "delete items of expired job %s", e.JobID)
			}
			finished, err = drain(late, &sw.Objects, func() (int, bool, error) { return media.DeletePrefix(ctx, MediaPrefix(e.JobID), DeleteBatch) })
			if err != nil || !finished {
				return false, wrapf(err, "delete media of expired job %s", e.JobID)
			}
			if err := store.DeleteJob(ctx, e.JobID); err != nil {
				return false, fmt.Errorf("delete expired job %s: %w", e.JobID, err)
			}
			if err := store.DeleteExpiry(ctx, e); err != nil {
				return false, fmt.Errorf("delete expiry marker of job %s: %w", e.JobID, err)
			}
			sw.Jobs++
		}
	}
}

// sweepUploads removes the objects of due upload markers whose items were never
// committed. Keys are jobs/<job>/m_<32 hex>: no other key starts with one, so deleting
// by prefix removes exactly the object, every version of it.
func sweepUploads(ctx context.Context, store ExpiryStore, media PrefixDeleter, now time.Time, late func() bool, sw *Sweep) (bool, error) {
	// The listing may lag (DynamoDB's gsi1): a marker removed a moment ago can come back.
	// Each is handled once per call; a listing with nothing new ends the call.
	handled := map[string]bool{}
	for {
		due, err := store.DueUploads(ctx, now, DeleteBatch)
		if err != nil {
			return false, fmt.Errorf("list upload markers: %w", err)
		}
		fresh := 0
		for _, m := range due {
			id := m.JobID + "/" + m.Batch + "/" + m.Due.UTC().Format(time.RFC3339)
			if handled[id] {
				continue
			}
			handled[id] = true
			fresh++
			for _, u := range m.Uploads {
				if late() {
					return false, nil
				}
				// The item goes before the object, so a commit can no longer succeed for
				// an object about to go.
				abandoned, err := store.DropPending(ctx, m.JobID, u.ItemID, u.MediaKey)
				if err != nil {
					return false, fmt.Errorf("drop pending item %s of job %s: %w", u.ItemID, m.JobID, err)
				}
				if !abandoned {
					continue
				}
				finished, err := drain(late, &sw.Objects, func() (int, bool, error) { return media.DeletePrefix(ctx, u.MediaKey, DeleteBatch) })
				if err != nil || !finished {
					return false, wrapf(err, "delete abandoned upload of job %s", m.JobID)
				}
				sw.Abandoned++
			}
			if err := store.DeleteUploadMarker(ctx, m); err != nil {
				return false, fmt.Errorf("delete upload marker of job %s: %w", m.JobID, err)
			}
		}
		if fresh == 0 {
			return true, nil
		}
	}
}

// drain runs step, a bounded deletion, until it reports nothing more, adding what each
// call removed to *count. Before each call it asks late whether to stop; finished is
// false then.
func drain(late func() bool, count *int, step func() (n int, more bool, err error)) (finished bool, err error) {
	for more := true; more; {
		if late() {
			return false, nil
		}
		var n int
		if n, more, err = step(); err != nil {
			return false, err
		}
		*count += n
	}
	return true, nil
}

// wrapf wraps err with what was being done; nil stays nil.
func wrapf(err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(a, err)...)
}
