package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	privacyhandler "github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Wire builds the worker from the function's environment: the accounts, labels and privacy
// tables, the media, exports and privacy buckets, the privacy queue (jobs sent again), the
// privacy function's mailers and key (completion notices, through the notice configuration
// set; the request workflow), and the mail provider's suppression list (erased and
// reported like a store). The labels table and the media bucket also serve the
// expired-jobs sweep.
func Wire(ctx context.Context, env *platform.Env) (platform.SQSHandler, error) {
	var tables dynamo.HoldingsTables
	for name, dst := range map[string]*string{
		schema.TableAccounts: &tables.Accounts, schema.TableLabels: &tables.Labels, schema.TablePrivacy: &tables.Privacy,
	} {
		v, err := env.Config.Table(name)
		if err != nil {
			return nil, err
		}
		*dst = v
	}
	buckets := map[string]string{}
	for _, name := range []string{schema.BucketMedia, schema.BucketExports, schema.BucketPrivacy} {
		v, err := env.Config.Bucket(name)
		if err != nil {
			return nil, err
		}
		buckets[name] = v
	}
	queue, err := env.Queue(schema.QueuePrivacy)
	if err != nil {
		return nil, err
	}
	mailer, err := privacyhandler.Mailer(env)
	if err != nil {
		return nil, err
	}
	notices := privacyhandler.NoticeMailer(mailer, env.Config.MailNoticeConfigurationSet)
	key, err := privacyhandler.PrivacyKey(ctx, env)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	db := env.DynamoDB()
	svc, err := privacy.NewService(privacy.Deps{
		Store:    dynamo.NewPrivacy(db, tables.Privacy, now),
		Mailer:   mailer,
		Notices:  notices, // the completion notice, sent after the address left SES's suppression list
		Accounts: dynamo.NewAccounts(db, tables.Accounts),
		Subjects: dynamo.NewAccessibility(db, tables.Accounts),
		Queue:    queue,
		Clock:    privacy.ClockFunc(now),
		Key:      key,
	})
	if err != nil {
		return nil, err
	}
	holdings := dynamo.NewHoldings(db, tables, now)
	store := blob.New(env.S3())
	deps := privacy.ExecDeps{
		Accounts: holdings,
		Labels:   holdings,
		Log:      holdings,
		Media:    Objects{Store: store, Bucket: buckets[schema.BucketMedia]},
		Exports:  Objects{Store: store, Bucket: buckets[schema.BucketExports]},
		Files:    Files{Store: store, Bucket: buckets[schema.BucketPrivacy]},
		// Accessibility sign-ups and tokens (A11Y# in the accounts table), found by the
		// subject hash even when the address holds no account.
		Accessibility: dynamo.NewAccessibility(db, tables.Accounts),
		// SES keeps an address that bounced or complained outside every table.
		Suppression: privacyhandler.SuppressionList(env),
		Now:         now,
	}
	return New(Deps{
		Runner:      svc,
		Executors:   func(r privacy.Request) ([]privacy.Executor, error) { return privacy.Executors(r, deps) },
		Queue:       queue,
		ExpiredJobs: dynamo.NewJobs(db, tables.Labels),
		Media:       deps.Media,
		Now:         now,
	}), nil
}

// Objects is privacy.Objects on one S3 bucket: every version of an object goes, since the
// media bucket is versioned.
type Objects struct {
	Store  *blob.Store
	Bucket string
}

var _ privacy.Objects = Objects{}

// DeleteObject implements privacy.Objects.
func (o Objects) DeleteObject(ctx context.Context, key string) error {
	return o.Store.DeleteVersions(ctx, o.Bucket, key)
}

// DeletePrefix implements privacy.Objects.
func (o Objects) DeletePrefix(ctx context.Context, prefix string, limit int) (int, bool, error) {
	return o.Store.DeletePrefix(ctx, o.Bucket, prefix, min(limit, 1000))
}

// Files is privacy.Files on the privacy bucket.
type Files struct {
	Store  *blob.Store
	Bucket string
}

var _ privacy.Files = Files{}

// MaxPartBytes bounds what Get reads of one package part (parts hold at most a few
// thousand records).
const MaxPartBytes = 64 << 20

// Put implements privacy.Files.
func (f Files) Put(ctx context.Context, key, contentType string, body []byte) error {
	return f.Store.Put(ctx, f.Bucket, key, contentType, bytes.NewReader(body))
}

// Get implements privacy.Files.
func (f Files) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := f.Store.Get(ctx, f.Bucket, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, privacy.ErrNoFile
	}
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(io.LimitReader(obj.Body, MaxPartBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if len(b) > MaxPartBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", key, MaxPartBytes)
	}
	return b, nil
}

// Create implements privacy.Files with a streamed (multipart) upload.
func (f Files) Create(ctx context.Context, key, contentType string) (privacy.FileWriter, error) {
	return f.Store.Upload(ctx, f.Bucket, key, contentType, blob.MinPartSize)
}

// DeletePrefix implements privacy.Files.
func (f Files) DeletePrefix(ctx context.Context, prefix string, limit int) (int, bool, error) {
	return f.Store.DeletePrefix(ctx, f.Bucket, prefix, min(limit, 1000))
}
