// Package export is the labeled-data export domain: an export request and its status, and
// the two formats a job's labels are written in (SageMaker Ground Truth's augmented
// manifest as JSON Lines, and CSV). Encoders stream: they hold one row at a time, so an
// export's memory does not grow with the job. It imports no AWS SDK.
//
// An export holds, per labeled item, its id, where its content is (an s3:// URI of the
// image or the text itself), the label (class index and name), the confidence, the number
// of answers and when consensus completed — nothing about any end-user.
package export

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Format is an export file format.
type Format string

const (
	// FormatManifest is SageMaker Ground Truth's augmented manifest (JSON Lines).
	FormatManifest Format = "manifest"
	// FormatCSV is comma-separated values with a header row.
	FormatCSV Format = "csv"
)

// ParseFormat accepts "manifest" and "csv".
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatManifest, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("%w: format %q (want manifest or csv)", ErrInvalid, s)
}

// Extension is the file name extension of the format.
func (f Format) Extension() string {
	if f == FormatCSV {
		return ".csv"
	}
	return ".jsonl"
}

// ContentType is the object's media type, stored with it and sent with every download.
// JSON Lines has no registered type; application/jsonl is the one jsonlines.org (which
// names the .jsonl extension) suggests. (application/x-ndjson belongs to NDJSON and
// .ndjson; SageMaker reads manifests from S3 whatever their type.) CSV is RFC 4180's
// text/csv with the charset, since the file is UTF-8 and has no byte-order mark.
func (f Format) ContentType() string {
	if f == FormatCSV {
		return "text/csv; charset=utf-8"
	}
	return "application/jsonl"
}

// Status is where an export is.
type Status string

const (
	StatusQueued  Status = "queued"
	StatusRunning Status = "running"
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
)

// Retention: an export's object expires by the exports bucket's lifecycle rule after 7
// days (schema.BucketExports); its record goes with it.
const Retention = 7 * 24 * time.Hour

// LinkTTL is how long a download link works; asking again gives a fresh one.
const LinkTTL = 15 * time.Minute

// Export is one export of a job's labels.
type Export struct {
	ID         string
	CustomerID string
	JobID      string
	Format     Format
	Status     Status
	// MediaBucket is the deployed name of the media bucket, for the s3:// URIs of image
	// items (the export function itself has no access to that bucket).
	MediaBucket string
	// Key is the object key in the exports bucket (set when the export is created, so a
	// re-run overwrites the same object).
	Key string
	// Rows is the number of items written (when done).
	Rows int64
	// Attempt counts the runs that started; a run finishes the export only if no later
	// run has started since.
	Attempt int
	// Error says why a failed export failed (no internal detail).
	Error       string
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	ExpiresAt   time.Time
}

// Errors.
var (
	// ErrInvalid wraps bad input (unknown format).
	ErrInvalid = errors.New("export: invalid")
	// ErrNotFound: no such export (or it has expired).
	ErrNotFound = errors.New("export: not found")
	// ErrConflict: the export is not in the state a transition needs (already done,
	// failed, or taken over by a later run).
	ErrConflict = errors.New("export: conflict")
)

// New returns a queued export of job jobID for customerID, created at now.
func New(customerID, jobID string, f Format, mediaBucket string, now time.Time) (Export, error) {
	if _, err := ParseFormat(string(f)); err != nil {
		return Export{}, err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Export{}, fmt.Errorf("export id: %w", err)
	}
	id := "exp_" + hex.EncodeToString(b[:])
	now = now.UTC().Truncate(time.Second)
	return Export{
		ID: id, CustomerID: customerID, JobID: jobID, Format: f, Status: StatusQueued, MediaBucket: mediaBucket,
		Key: ObjectKey(jobID, id, f), CreatedAt: now, ExpiresAt: now.Add(Retention),
	}, nil
}

// ObjectKey is where an export's file goes in the exports bucket.
func ObjectKey(jobID, exportID string, f Format) string {
	return "jobs/" + jobID + "/" + exportID + f.Extension()
}

// Filename is the name a download of the export is saved under: the job id and the
// export id with the format's extension ("reviews-exp_….csv"), so two exports of one job,
// or of two jobs, never overwrite each other in a download folder. The object key's own
// last segment lacks the job id.
func (e Export) Filename() string {
	return e.JobID + "-" + e.ID + e.Format.Extension()
}

// Message is the exports-queue message: which export to run.
type Message struct {
	V        int    `json:"v"`
	ExportID string `json:"export_id"`
}

// MessageVersion is the exports-queue message format version.
const MessageVersion = 1
