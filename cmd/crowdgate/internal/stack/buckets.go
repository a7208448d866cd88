package stack

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

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
