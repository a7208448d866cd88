// Package handler is the export function: the consumer of the exports queue. For each
// queued export it streams the job's labeled items from DynamoDB (paginated queries)
// through an encoder (shared/export) into one object in the exports bucket with a
// multipart upload, so memory stays flat whatever the job's size, and records the
// outcome on the export. Running an export again overwrites the same object.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Exports moves exports through their states (*dynamo.Exports).
type Exports interface {
	Start(ctx context.Context, id string, at time.Time) (export.Export, error)
	Finish(ctx context.Context, id string, attempt int, rows int64, at time.Time) error
	Fail(ctx context.Context, id string, attempt int, reason string, at time.Time) error
}

// Jobs reads job definitions (*dynamo.Jobs).
type Jobs interface {
	GetJob(ctx context.Context, id string) (job.Job, error)
}

// Upload is one object being written (*blob.Upload).
type Upload interface {
	io.Writer
	Close() error
	Abort(ctx context.Context) error
}

// Uploader starts uploads into the exports bucket.
type Uploader interface {
	Upload(ctx context.Context, key, contentType string) (Upload, error)
}

var (
	_ Exports       = (*dynamo.Exports)(nil)
	_ Jobs          = (*dynamo.Jobs)(nil)
	_ export.Source = (*dynamo.Exports)(nil)
	_ Upload        = (*blob.Upload)(nil)
)

// Deps are the export function's ports.
type Deps struct {
	Exports Exports
	Jobs    Jobs
	Rows    export.Source
	Bucket  Uploader
	Now     func() time.Time
	// MaxReceives is the exports queue's maximum receives: the last attempt marks a
	// failing export failed before it goes to the dead-letter queue.
	MaxReceives int
	// Reserve is how long before the invocation's deadline writing stops (default
	// DefaultReserve): Lambda ends a timed-out invocation without running any more of its
	// code, so a run that cannot finish must stop in time to abort its upload and, on the
	// last receive, mark the export failed instead of leaving it running.
	Reserve time.Duration
}

// DefaultReserve leaves time for aborting the upload and recording the outcome.
const DefaultReserve = 30 * time.Second

// Reasons a customer reads on a failed export.
const (
	reasonJobGone  = "the job no longer exists"
	reasonInternal = "the export could not be written; ask for a new one"
)

// New returns the export function's SQS handler. Exports run one after the other: each
// streams a whole job.
func New(d Deps) platform.SQSHandler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxReceives == 0 {
		d.MaxReceives = schema.QueueNamed(schema.QueueExports).MaxReceives
	}
	if d.Reserve == 0 {
		d.Reserve = DefaultReserve
	}
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, rec := range ev.Records {
			if err := run(ctx, d, rec); err != nil {
				log := web.Logger(ctx).With("message_id", rec.MessageId, "receive_count", rec.Attributes["ApproximateReceiveCount"])
				if errors.Is(err, errPoison) {
					log.WarnContext(ctx, "poison message: failing it until it moves to the dead-letter queue", "reason", err.Error())
				} else {
					log.ErrorContext(ctx, "export failed; "+platform.NextForFailed(rec, d.MaxReceives), "err", err)
				}
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			}
		}
		return resp, nil
	}
}

// errPoison marks a message that can never be run.
var errPoison = errors.New("export: message cannot be run")

func run(ctx context.Context, d Deps, rec events.SQSMessage) error {
	var m export.Message
	if err := json.Unmarshal([]byte(rec.Body), &m); err != nil || m.V != export.MessageVersion || m.ExportID == "" || len(m.ExportID) > 64 {
		return fmt.Errorf("%w: malformed message", errPoison)
	}
	log := web.Logger(ctx).With("export_id", m.ExportID)
	e, err := d.Exports.Start(ctx, m.ExportID, d.Now())
	switch {
	case errors.Is(err, export.ErrNotFound):
		log.WarnContext(ctx, "export unknown or expired; dropped")
		return nil
	case errors.Is(err, export.ErrConflict):
		log.InfoContext(ctx, "export already finished; redelivery ignored")
		return nil
	case err != nil:
		return d.startFailed(ctx, m.ExportID, rec, err)
	}
	log = log.With("job_id", e.JobID, "attempt", e.Attempt)

	j, err := d.Jobs.GetJob(ctx, e.JobID)
	if gone(j, err) {
		return d.fail(ctx, e, reasonJobGone)
	}
	if err != nil {
		return d.retryOrFail(ctx, e, rec, fmt.Errorf("read job: %w", err))
	}
	wctx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		// Under a short timeout (the RIE harness's 30 s) half of it is kept instead.
		reserve := min(d.Reserve, time.Until(deadline)/2)
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, deadline.Add(-reserve))
		defer cancel()
	}
	rows, err := d.write(wctx, e, j)
	var bad *badData
	if errors.As(err, &bad) {
		log.WarnContext(ctx, "export refused: the job's data does not fit its definition", "err", err)
		return d.fail(ctx, e, bad.reason)
	}
	if err != nil {
		return d.retryOrFail(ctx, e, rec, err)
	}
	// A deletion that started while the rows were read has removed some of them: the
	// object is not the job's export.
	if j, err := d.Jobs.GetJob(ctx, e.JobID); gone(j, err) {
		return d.fail(ctx, e, reasonJobGone)
	} else if err != nil {
		return d.retryOrFail(ctx, e, rec, fmt.Errorf("read job: %w", err))
	}
	if err := d.Exports.Finish(ctx, e.ID, e.Attempt, rows, d.Now()); err != nil {
		if errors.Is(err, export.ErrConflict) {
			log.InfoContext(ctx, "a later attempt took this export over; its object is the one kept")
			return nil
		}
		return d.retryOrFail(ctx, e, rec, fmt.Errorf("finish export: %w", err))
	}
	log.InfoContext(ctx, "export done", "rows", rows, "format", string(e.Format))
	return nil
}

// gone reports whether a job read says the job no longer exists: absent, or being deleted
// (the API refuses exports of such a job too).
func gone(j job.Job, err error) bool {
	return errors.Is(err, job.ErrNotFound) || err == nil && j.Status == job.StatusDeleting
}

// badData is an export that cannot succeed however often it is retried.
type badData struct {
	reason string
	err    error
}

func (b *badData) Error() string { return b.reason + ": " + b.err.Error() }
func (b *badData) Unwrap() error { return b.err }

// write streams the job's rows into the export's object.
func (d Deps) write(ctx context.Context, e export.Export, j job.Job) (int64, error) {
	up, err := d.Bucket.Upload(ctx, e.Key, e.Format.ContentType())
	if err != nil {
		return 0, err
	}
	rows, err := export.Write(ctx, e.Format, up, j, e.MediaBucket, d.Rows)
	if err == nil {
		err = up.Close()
	}
	if err != nil {
		if abortErr := up.Abort(context.WithoutCancel(ctx)); abortErr != nil {
			web.Logger(ctx).WarnContext(ctx, "aborting the upload failed; the bucket's lifecycle rule removes its parts", "err", abortErr)
		}
		if errors.Is(err, export.ErrInvalid) {
			return 0, &badData{reason: "an item's label is not one of the job's classes", err: err}
		}
		return 0, err
	}
	return rows, nil
}

// retryOrFail returns err so SQS retries, and on the last receive first marks the export
// failed, so the customer learns of it before the message goes to the dead-letter queue.
func (d Deps) retryOrFail(ctx context.Context, e export.Export, rec events.SQSMessage, err error) error {
	if d.lastReceive(rec) {
		if ferr := d.Exports.Fail(ctx, e.ID, e.Attempt, reasonInternal, d.Now()); ferr != nil && !errors.Is(ferr, export.ErrConflict) {
			return errors.Join(err, ferr)
		}
	}
	return err
}

// startFailed handles a failed Start like retryOrFail. Fail needs the attempt, which a
// failed Start did not return (it may have counted one or not), so on the last receive the
// export is started once more, only to learn it (best effort: if that fails too, the
// export stays as it is until it expires).
func (d Deps) startFailed(ctx context.Context, id string, rec events.SQSMessage, err error) error {
	err = fmt.Errorf("start export: %w", err)
	if !d.lastReceive(rec) {
		return err
	}
	e, serr := d.Exports.Start(ctx, id, d.Now())
	if serr != nil {
		if errors.Is(serr, export.ErrNotFound) || errors.Is(serr, export.ErrConflict) {
			return nil // expired or finished meanwhile: nothing left to mark or run
		}
		return errors.Join(err, serr)
	}
	return d.retryOrFail(ctx, e, rec, err)
}

// lastReceive reports whether SQS will not deliver the message again.
func (d Deps) lastReceive(rec events.SQSMessage) bool {
	return platform.LastReceive(rec, d.MaxReceives)
}

func (d Deps) fail(ctx context.Context, e export.Export, reason string) error {
	err := d.Exports.Fail(ctx, e.ID, e.Attempt, reason, d.Now())
	if err != nil && !errors.Is(err, export.ErrConflict) {
		return err
	}
	return nil
}

// PartSize is the size of each uploaded part: S3's minimum, which is also the memory an
// export holds.
const PartSize = blob.MinPartSize

// bucketUploader is Uploader over one S3 bucket.
type bucketUploader struct {
	bucket   blob.Bucket
	partSize int
}

func (b bucketUploader) Upload(ctx context.Context, key, contentType string) (Upload, error) {
	return b.bucket.Upload(ctx, key, contentType, b.partSize)
}

// NewBucketUploader returns an Uploader over an S3 bucket with parts of partSize bytes.
func NewBucketUploader(b blob.Bucket, partSize int) Uploader {
	return bucketUploader{bucket: b, partSize: partSize}
}

// Wire builds the handler from the function's environment: the labels table (exports,
// jobs, items) and the exports bucket.
func Wire(_ context.Context, env *platform.Env) (platform.SQSHandler, error) {
	labels, err := env.Config.Table(schema.TableLabels)
	if err != nil {
		return nil, err
	}
	bucket, err := env.Config.Bucket(schema.BucketExports)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	db := env.DynamoDB()
	exports := dynamo.NewExports(db, labels)
	exports.Now = now
	return New(Deps{
		Exports: exports,
		Jobs:    dynamo.NewJobs(db, labels),
		Rows:    exports,
		Bucket:  NewBucketUploader(blob.Bucket{Store: blob.New(env.S3()), Name: bucket}, PartSize),
		Now:     now,
	}), nil
}
