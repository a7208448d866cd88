package stack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// createBuckets creates every bucket of schema.Buckets that does not exist yet (the CDK
// stack does this on AWS).
func createBuckets(ctx context.Context, env *platform.Env) error {
	c := env.S3()
	for _, b := range schema.Buckets {
		name, err := env.Config.Bucket(b.Name)
		if err != nil {
			return err
		}
		if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &name}); err == nil {
			continue
		}
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// lifecycleEvery is how often the local stack applies the buckets' lifecycle rules (S3
// does it about daily; daily jobs run hourly locally).
const lifecycleEvery = time.Hour

// runLifecycle applies the buckets' expiry rules at start and then every lifecycleEvery
// until ctx ends: the local S3 has no lifecycle, and export files and access packages
// (personal data) must not outlive their ExpireDays on a developer's disk either.
func runLifecycle(ctx context.Context, env *platform.Env, log *slog.Logger) {
	sweep := func() {
		n, err := expireObjects(ctx, env, env.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "bucket lifecycle sweep failed", "err", err)
		case n > 0:
			log.InfoContext(ctx, "bucket lifecycle sweep deleted expired objects", "objects", n)
		}
	}
	go func() {
		sweep()
		every(ctx, lifecycleEvery, sweep)
	}()
}

// expireObjects deletes the objects of every bucket with ExpireDays whose expiry has come,
// by S3's rule: creation time plus the days, rounded up to the next midnight UTC. It
// returns how many it deleted.
func expireObjects(ctx context.Context, env *platform.Env, now time.Time) (int, error) {
	c := env.S3()
	deleted := 0
	for _, b := range schema.Buckets {
		if b.ExpireDays <= 0 {
			continue
		}
		name, err := env.Config.Bucket(b.Name)
		if err != nil {
			return deleted, err
		}
		pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &name})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return deleted, fmt.Errorf("list s3://%s: %w", name, err)
			}
			var ids []types.ObjectIdentifier
			for _, o := range page.Contents {
				if o.LastModified != nil && !now.Before(expiresAt(*o.LastModified, b.ExpireDays)) {
					ids = append(ids, types.ObjectIdentifier{Key: o.Key})
				}
			}
			if len(ids) == 0 {
				continue
			}
			out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &name, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
			if err != nil {
				return deleted, fmt.Errorf("delete expired objects of s3://%s: %w", name, err)
			}
			if len(out.Errors) > 0 {
				return deleted, fmt.Errorf("delete expired objects of s3://%s: %d failed, first %s", name, len(out.Errors), aws.ToString(out.Errors[0].Message))
			}
			deleted += len(ids)
		}
	}
	return deleted, nil
}

// expiresAt is when S3's lifecycle expires an object created at created after days.
func expiresAt(created time.Time, days int) time.Time {
	at := created.UTC().Add(time.Duration(days) * 24 * time.Hour)
	if midnight := at.Truncate(24 * time.Hour); !midnight.Equal(at) {
		return midnight.Add(24 * time.Hour)
	}
	return at
}
