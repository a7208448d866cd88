package handler

import (
	"context"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/blob/blobtest"
)

// The privacy bucket as Wire builds it finds a package file while it is stored, and not
// once it is deleted (as the erasure deletes it, under the prefix). Like the local stack's
// S3 and the privacy bucket, the fake keeps no versions.
func TestPackageBucketExists(t *testing.T) {
	ctx := context.Background()
	const name, key = "privacy-packages", "access/pr_1/package.json"
	store := blob.New(blobtest.FakeS3(t, blobtest.NoVersions, name))
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
