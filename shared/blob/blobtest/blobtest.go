// Package blobtest starts the S3 stand-in (gofakes3, in memory, on loopback) for tests,
// with a client configured as platform.Env.S3() configures it for the local stack.
package blobtest

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Versioning is how the fake treats object versions.
type Versioning int

const (
	// Unversioned buckets on a server that knows versions (never-versioned buckets on AWS).
	Unversioned Versioning = iota
	// Versioned buckets, as the media bucket is on AWS.
	Versioned
	// NoVersions: the server answers version calls NotImplemented, as the local stack's S3.
	NoVersions
)

// FakeS3 starts the fake for the test, creates buckets and returns a client for it.
func FakeS3(t testing.TB, v Versioning, buckets ...string) *s3.Client {
	t.Helper()
	var opts []gofakes3.Option
	if v == NoVersions {
		opts = append(opts, gofakes3.WithoutVersioning())
	}
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), opts...).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(srv.URL),
		Credentials:                credentials.NewStaticCredentialsProvider("local", "local", ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	ctx := context.Background()
	for _, b := range buckets {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
		if v == Versioned {
			if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
				VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
				t.Fatalf("version bucket %s: %v", b, err)
			}
		}
	}
	return client
}
