package handler

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/crowdgate/crowdgate/shared/blob"
)

// The privacy bucket as Wire builds it finds a package file while it is stored, and not
// once it is deleted (as the erasure deletes it, under the prefix). Like the local stack's
// S3 and the privacy bucket, the fake keeps no versions.
func TestPackageBucketExists(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithoutVersioning()).Server())
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
	const name, key = "privacy-packages", "access/pr_1/package.json"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	store := blob.New(client)
	b := packageBucket{blob.Bucket{Store: store, Name: name}}
	if ok, err := b.Exists(ctx, key); ok || err != nil {
		t.Fatalf("before the package is written: %v, %v", ok, err)
	}
	if err := store.Put(ctx, name, key, "application/json", strings.NewReader(`{"records":[]}`)); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Exists(ctx, key); !ok || err != nil {
		t.Fatalf("stored package: %v, %v", ok, err)
	}
	if _, _, err := store.DeletePrefix(ctx, name, "access/pr_1/", 1000); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Exists(ctx, key); ok || err != nil {
		t.Fatalf("erased package: %v, %v", ok, err)
	}
}
