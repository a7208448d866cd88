package stack

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/localaws"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The buckets' lifecycle rules apply locally as on AWS: export files go after 7 days and
// access packages after 30 (rounded up to midnight UTC); media has no expiry.
func TestBucketLifecycleExpiresObjectsLocally(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	s3srv, err := localaws.StartS3(ctx, t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s3srv.Close() })
	env := newEnv(LocalAWS("http://127.0.0.1:1", s3srv.Endpoint()), "http://127.0.0.1:1", state{}, t.TempDir(), nil, log)
	if err := createBuckets(ctx, env); err != nil {
		t.Fatal(err)
	}
	_, buckets := Names()
	c := env.S3()
	for _, b := range []string{schema.BucketMedia, schema.BucketExports, schema.BucketPrivacy} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(buckets[b]), Key: aws.String("k/" + b), Body: bytes.NewReader([]byte("x"))}); err != nil {
			t.Fatal(err)
		}
	}
	has := func(b string) bool {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(buckets[b]), Key: aws.String("k/" + b)})
		return err == nil
	}
	day := 24 * time.Hour
	now := time.Now()
	steps := []struct {
		at                      time.Time
		media, exports, privacy bool
	}{
		{now.Add(6 * day), true, true, true},
		{now.Add(8 * day), true, false, true},
		{now.Add(29 * day), true, false, true},
		{now.Add(31 * day), true, false, false},
	}
	for _, s := range steps {
		if _, err := expireObjects(ctx, env, s.at); err != nil {
			t.Fatalf("sweep at +%v: %v", s.at.Sub(now), err)
		}
		if has(schema.BucketMedia) != s.media || has(schema.BucketExports) != s.exports || has(schema.BucketPrivacy) != s.privacy {
			t.Errorf("after a sweep at +%v: media %v exports %v privacy %v, want %v %v %v", s.at.Sub(now).Round(day),
				has(schema.BucketMedia), has(schema.BucketExports), has(schema.BucketPrivacy), s.media, s.exports, s.privacy)
		}
	}
	if got, want := expiresAt(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), 7), time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("expiresAt = %v, want %v (next midnight UTC)", got, want)
	}
}
