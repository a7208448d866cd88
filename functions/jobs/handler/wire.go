package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	exportapi "github.com/crowdgate/crowdgate/functions/export/api"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Wire builds the handler over the accounts table (API keys, read only), the labels table
// (jobs and items), the media bucket (uploads) and the export API (exports queue and bucket).
func Wire(ctx context.Context, env *platform.Env) (http.Handler, error) {
	accounts, err := env.Config.Table(schema.TableAccounts)
	if err != nil {
		return nil, err
	}
	labels, err := env.Config.Table(schema.TableLabels)
	if err != nil {
		return nil, err
	}
	bucket, err := env.Config.Bucket(schema.BucketMedia)
	if err != nil {
		return nil, err
	}
	media := &Media{Store: blob.New(env.S3()), Bucket: bucket}
	exports, err := exportapi.Wire(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("wire exports: %w", err)
	}
	return New(Deps{
		Keys:    account.NewCustomerService(dynamo.NewAccounts(env.DynamoDB(), accounts), env.Now),
		Jobs:    job.NewService(dynamo.NewJobs(env.DynamoDB(), labels), media, env.Now),
		Exports: exports,
	}), nil
}

// Media is job.Media on one S3 bucket.
type Media struct {
	Store  *blob.Store
	Bucket string
}

var _ job.Media = (*Media)(nil)

// PresignPut implements job.Media.
func (m *Media) PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (string, error) {
	return m.Store.PresignPutSized(ctx, m.Bucket, key, contentType, size, ttl)
}

// ReadHead implements job.Media.
func (m *Media) ReadHead(ctx context.Context, key string, n int64) ([]byte, int64, error) {
	head, size, err := m.Store.ReadHead(ctx, m.Bucket, key, n)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, 0, job.ErrNoObject
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read upload: %w", err)
	}
	return head, size, nil
}

// Delete implements job.Media: every version, since the media bucket is versioned.
func (m *Media) Delete(ctx context.Context, key string) error {
	return m.Store.DeleteVersions(ctx, m.Bucket, key)
}

// DeletePrefix implements job.Media.
func (m *Media) DeletePrefix(ctx context.Context, prefix string, limit int) (int, bool, error) {
	return m.Store.DeletePrefix(ctx, m.Bucket, prefix, min(limit, 1000))
}
