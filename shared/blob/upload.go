package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Customer uploads into the media bucket: a presigned PUT that fixes type and size, a look
// at the first bytes of what arrived, and deletion of every version (the media bucket is
// versioned, so a plain DeleteObject would only hide an object behind a delete marker).

// PresignPutSized returns a link that uploads exactly size bytes of contentType to
// bucket/key for ttl. Both Content-Type and Content-Length are signed, so S3 refuses an
// upload of another type or size.
func (s *Store) PresignPutSized(ctx context.Context, bucket, key, contentType string, size int64, ttl time.Duration) (string, error) {
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	if size < 1 || contentType == "" {
		return "", fmt.Errorf("blob: sized upload needs a content type and a positive size")
	}
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, ContentType: &contentType, ContentLength: aws.Int64(size)}
	req, err := s.presign.PresignPutObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign put s3://%s/%s: %w", bucket, key, err)
	}
	return req.URL, nil
}

// ReadHead returns up to n first bytes of bucket/key and the object's full size, with one
// ranged GET (ErrNotFound if it does not exist).
func (s *Store) ReadHead(ctx context.Context, bucket, key string, n int64) ([]byte, int64, error) {
	if n < 1 {
		return nil, 0, fmt.Errorf("blob: read head of %d bytes", n)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: aws.String(fmt.Sprintf("bytes=0-%d", n-1))})
	if err != nil {
		if isNotFound(err) {
			return nil, 0, ErrNotFound
		}
		if isErrorCode(err, "InvalidRange") {
			// Only an empty object has no byte 0.
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	head, err := io.ReadAll(io.LimitReader(out.Body, n))
	if err != nil {
		return nil, 0, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	size := aws.ToInt64(out.ContentLength)
	// "bytes 0-99/1234": the total follows the slash (a server that ignores Range sends the
	// whole object and no Content-Range).
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if total, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				size = total
			}
		}
	}
	return head, size, nil
}

// DeleteVersions removes every version of bucket/key (no error if there is none).
func (s *Store) DeleteVersions(ctx context.Context, bucket, key string) error {
	for {
		ids, more, err := s.listVersions(ctx, bucket, key, 1000, func(k string) bool { return k == key })
		if err != nil {
			return err
		}
		if err := s.deleteIDs(ctx, bucket, ids); err != nil {
			return err
		}
		if !more || len(ids) == 0 {
			return nil
		}
	}
}

// DeletePrefix removes up to limit (≤ 1000) object versions and delete markers under prefix
// with one listing and one batch delete, and reports whether more may remain.
func (s *Store) DeletePrefix(ctx context.Context, bucket, prefix string, limit int) (int, bool, error) {
	if limit < 1 || limit > 1000 {
		return 0, false, fmt.Errorf("blob: delete batch of %d (want 1-1000)", limit)
	}
	if prefix == "" {
		return 0, false, errors.New("blob: refusing to delete a whole bucket")
	}
	ids, more, err := s.listVersions(ctx, bucket, prefix, limit, nil)
	if err != nil {
		return 0, false, err
	}
	if err := s.deleteIDs(ctx, bucket, ids); err != nil {
		return 0, true, err
	}
	return len(ids), more, nil
}

// listVersions lists up to limit versions under prefix whose key passes keep (nil: all).
// A store without versioning (the local stack's) answers NotImplemented; then the plain
// object listing is used.
func (s *Store) listVersions(ctx context.Context, bucket, prefix string, limit int, keep func(string) bool) ([]types.ObjectIdentifier, bool, error) {
	var ids []types.ObjectIdentifier
	add := func(key, version *string) {
		if keep == nil || keep(aws.ToString(key)) {
			ids = append(ids, types.ObjectIdentifier{Key: key, VersionId: version})
		}
	}
	out, err := s.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &prefix, MaxKeys: aws.Int32(int32(limit))})
	if err == nil {
		for _, v := range out.Versions {
			add(v.Key, v.VersionId)
		}
		for _, m := range out.DeleteMarkers {
			add(m.Key, m.VersionId)
		}
		return ids, aws.ToBool(out.IsTruncated), nil
	}
	if !isErrorCode(err, "NotImplemented") {
		return nil, false, fmt.Errorf("list versions s3://%s/%s: %w", bucket, prefix, err)
	}
	plain, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, MaxKeys: aws.Int32(int32(limit))})
	if err != nil {
		return nil, false, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
	}
	for _, o := range plain.Contents {
		add(o.Key, nil)
	}
	return ids, aws.ToBool(plain.IsTruncated), nil
}

func (s *Store) deleteIDs(ctx context.Context, bucket string, ids []types.ObjectIdentifier) error {
	if len(ids) == 0 {
		return nil
	}
	out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	if err != nil {
		return fmt.Errorf("delete %d objects in s3://%s: %w", len(ids), bucket, err)
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		return fmt.Errorf("delete objects in s3://%s: %d failed (first %s: %s)", bucket, len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Code))
	}
	return nil
}

func isErrorCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}
