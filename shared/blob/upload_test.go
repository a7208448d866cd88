package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/blob/blobtest"
)

// newVersionedStore is newStore with versioning switched on, as the media bucket has it on
// AWS; it also returns the raw client to look at versions.
func newVersionedStore(t *testing.T) (*blob.Store, *s3.Client) {
	t.Helper()
	client := blobtest.FakeS3(t, blobtest.Versioned, bucket)
	return blob.New(client), client
}

func TestSizedUploadLinkSignsTypeAndLength(t *testing.T) {
	s, ctx := newStore(t), context.Background()
	link, err := s.PresignPutSized(ctx, bucket, "jobs/j/i1", "image/png", 1234, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	// S3 checks the signature over these headers: another type or size is refused there.
	signed := strings.Split(u.Query().Get("X-Amz-SignedHeaders"), ";")
	if strings.Join(signed, ",") != "content-length,content-type,host" || u.Query().Get("X-Amz-Expires") != "900" {
		t.Fatalf("signed headers %v, expires %s", signed, u.Query().Get("X-Amz-Expires"))
	}
	body := bytes.Repeat([]byte{7}, 1234)
	req, _ := http.NewRequest(http.MethodPut, link, bytes.NewReader(body))
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	head, size, err := s.ReadHead(ctx, bucket, "jobs/j/i1", 100)
	if err != nil || size != 1234 || len(head) != 100 || !bytes.Equal(head, body[:100]) {
		t.Fatalf("ReadHead: %d bytes of %d, %v", len(head), size, err)
	}
	head, size, err = s.ReadHead(ctx, bucket, "jobs/j/i1", 1<<20)
	if err != nil || size != 1234 || len(head) != 1234 {
		t.Fatalf("ReadHead beyond the end: %d bytes of %d, %v", len(head), size, err)
	}
	if _, _, err := s.ReadHead(ctx, bucket, "jobs/j/missing", 100); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	for _, bad := range []struct {
		ct   string
		size int64
	}{{"", 10}, {"image/png", 0}} {
		if _, err := s.PresignPutSized(ctx, bucket, "k", bad.ct, bad.size, time.Minute); err == nil {
			t.Errorf("PresignPutSized(%q, %d): no error", bad.ct, bad.size)
		}
	}
}

func put(t *testing.T, s *blob.Store, key, body string) {
	t.Helper()
	if err := s.Put(context.Background(), bucket, key, "image/png", strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func versions(t *testing.T, c *s3.Client, prefix string) int {
	t.Helper()
	out, err := c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions) + len(out.DeleteMarkers)
}

func TestDeletePrefixRemovesEveryVersionInBoundedBatches(t *testing.T) {
	s, c := newVersionedStore(t)
	ctx := context.Background()
	for i := range 5 {
		put(t, s, fmt.Sprintf("jobs/a/%d", i), "v1")
		put(t, s, fmt.Sprintf("jobs/a/%d", i), "v2") // a second version
	}
	put(t, s, "jobs/ab/keep", "other job")
	if err := s.Delete(ctx, bucket, "jobs/a/0"); err != nil { // leaves a delete marker
		t.Fatal(err)
	}
	if n := versions(t, c, "jobs/a/"); n != 11 {
		t.Fatalf("%d versions before, want 11", n)
	}
	total, calls := 0, 0
	for more := true; more; calls++ {
		if calls > 5 {
			t.Fatal("DeletePrefix does not finish")
		}
		n, m, err := s.DeletePrefix(ctx, bucket, "jobs/a/", 4)
		if err != nil {
			t.Fatal(err)
		}
		if n > 4 {
			t.Fatalf("one call deleted %d, limit 4", n)
		}
		total, more = total+n, m
	}
	if total != 11 || versions(t, c, "jobs/a/") != 0 {
		t.Fatalf("deleted %d, %d versions left", total, versions(t, c, "jobs/a/"))
	}
	if _, err := s.Get(ctx, bucket, "jobs/ab/keep"); err != nil {
		t.Fatalf("an object outside the prefix was deleted: %v", err)
	}
	if _, _, err := s.DeletePrefix(ctx, bucket, "", 10); err == nil {
		t.Fatal("an empty prefix would delete the bucket")
	}
}

func TestDeleteVersionsRemovesOneKeyOnly(t *testing.T) {
	s, c := newVersionedStore(t)
	ctx := context.Background()
	put(t, s, "jobs/a/item1", "v1")
	put(t, s, "jobs/a/item1", "v2")
	put(t, s, "jobs/a/item10", "keep")
	if err := s.DeleteVersions(ctx, bucket, "jobs/a/item1"); err != nil {
		t.Fatal(err)
	}
	if n := versions(t, c, "jobs/a/item1"); n != 1 {
		t.Fatalf("%d versions under jobs/a/item1*, want only item10's", n)
	}
	if err := s.DeleteVersions(ctx, bucket, "jobs/a/none"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
}

// Without versioning support (the local stack's S3) the plain listing is used.
func TestDeletePrefixWithoutVersioning(t *testing.T) {
	ctx := context.Background()
	s := blob.New(blobtest.FakeS3(t, blobtest.NoVersions, bucket))
	put(t, s, "jobs/a/1", "x")
	put(t, s, "jobs/a/2", "x")
	if n, more, err := s.DeletePrefix(ctx, bucket, "jobs/a/", 10); err != nil || n != 2 || more {
		t.Fatalf("DeletePrefix = %d, %v, %v", n, more, err)
	}
	if err := s.DeleteVersions(ctx, bucket, "jobs/a/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, bucket, "jobs/a/1"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("object still there: %v", err)
	}
}
