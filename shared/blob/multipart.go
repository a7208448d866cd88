package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Multipart limits of S3.
const (
	// MinPartSize is the smallest part S3 accepts (except the last one).
	MinPartSize = 5 << 20
	// MaxParts is the most parts one upload may have.
	MaxParts = 10000
)

// MultipartAPI is the part of the S3 client a streamed upload uses.
type MultipartAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

var _ MultipartAPI = (*s3.Client)(nil)

// Upload streams one object to S3: an io.Writer that holds at most one part in memory and
// sends each full part as it fills, so the memory an upload needs does not grow with the
// object. An object that never fills a part is sent with one PutObject when the upload is
// closed. Close completes the upload; after any error, Abort (or the bucket's
// incomplete-upload lifecycle rule) discards the parts sent so far. Not safe for
// concurrent use.
type Upload struct {
	ctx         context.Context
	api         MultipartAPI
	bucket, key string
	contentType string

	buf     []byte
	id      string // multipart upload id, once the first part is sent
	parts   []types.CompletedPart
	written int64
	err     error
	closed  bool
	done    bool // the object exists: Abort has nothing to discard
}

// NewUpload starts a streamed upload of bucket/key with parts of partSize bytes (at least
// MinPartSize; objects up to partSize × MaxParts). ctx is used for every request the
// upload makes.
func NewUpload(ctx context.Context, api MultipartAPI, bucket, key, contentType string, partSize int) (*Upload, error) {
	if partSize < MinPartSize {
		return nil, fmt.Errorf("blob: part size %d is below S3's minimum of %d bytes", partSize, MinPartSize)
	}
	return &Upload{ctx: ctx, api: api, bucket: bucket, key: key, contentType: contentType, buf: make([]byte, 0, partSize)}, nil
}

// Upload starts a streamed upload through the store's client (see NewUpload).
func (s *Store) Upload(ctx context.Context, bucket, key, contentType string, partSize int) (*Upload, error) {
	return NewUpload(ctx, s.client, bucket, key, contentType, partSize)
}

// ErrUploadClosed is returned by writes after Close or Abort.
var ErrUploadClosed = errors.New("blob: upload closed")

// Write buffers p, sending every part that fills.
func (u *Upload) Write(p []byte) (int, error) {
	if u.closed {
		return 0, ErrUploadClosed
	}
	if u.err != nil {
		return 0, u.err
	}
	n := 0
	for len(p) > 0 {
		room := cap(u.buf) - len(u.buf)
		k := min(room, len(p))
		u.buf = append(u.buf, p[:k]...)
		p = p[k:]
		n += k
		if len(u.buf) == cap(u.buf) {
			if err := u.flush(); err != nil {
				u.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// Written is the number of bytes written so far.
func (u *Upload) Written() int64 { return u.written + int64(len(u.buf)) }

// flush sends the buffer as the next part.
func (u *Upload) flush() error {
	if len(u.parts) >= MaxParts {
		return fmt.Errorf("blob: s3://%s/%s needs more than %d parts of %d bytes", u.bucket, u.key, MaxParts, cap(u.buf))
	}
	if u.id == "" {
		in := &s3.CreateMultipartUploadInput{Bucket: &u.bucket, Key: &u.key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
		if u.contentType != "" {
			in.ContentType = &u.contentType
		}
		out, err := u.api.CreateMultipartUpload(u.ctx, in)
		if err != nil {
			return fmt.Errorf("start upload of s3://%s/%s: %w", u.bucket, u.key, err)
		}
		u.id = aws.ToString(out.UploadId)
	}
	num := int32(len(u.parts) + 1)
	out, err := u.api.UploadPart(u.ctx, &s3.UploadPartInput{
		Bucket: &u.bucket, Key: &u.key, UploadId: &u.id, PartNumber: &num,
		Body: bytes.NewReader(u.buf), ContentLength: aws.Int64(int64(len(u.buf))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return fmt.Errorf("upload part %d of s3://%s/%s: %w", num, u.bucket, u.key, err)
	}
	// The part's checksum goes into the completion request, which S3 requires for an
	// upload created with a checksum algorithm.
	u.parts = append(u.parts, types.CompletedPart{PartNumber: &num, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	u.written += int64(len(u.buf))
	// The request has finished reading the buffer (retries included), so it can be reused.
	u.buf = u.buf[:0]
	return nil
}

// Close sends what is buffered and completes the object. It reports the first error of
// the upload; on error the caller should Abort.
func (u *Upload) Close() error {
	if u.closed {
		return ErrUploadClosed
	}
	if u.err != nil {
		return u.err
	}
	u.closed = true
	if u.id == "" {
		// Small object: one request.
		in := &s3.PutObjectInput{Bucket: &u.bucket, Key: &u.key, Body: bytes.NewReader(u.buf), ContentLength: aws.Int64(int64(len(u.buf)))}
		if u.contentType != "" {
			in.ContentType = &u.contentType
		}
		if _, err := u.api.PutObject(u.ctx, in); err != nil {
			u.err = fmt.Errorf("put s3://%s/%s: %w", u.bucket, u.key, err)
			return u.err
		}
		u.written += int64(len(u.buf))
		u.buf, u.done = nil, true
		return nil
	}
	if len(u.buf) > 0 {
		if err := u.flush(); err != nil {
			u.err = err
			return err
		}
	}
	u.buf = nil
	_, err := u.api.CompleteMultipartUpload(u.ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &u.bucket, Key: &u.key, UploadId: &u.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
	})
	if err != nil {
		u.err = fmt.Errorf("complete upload of s3://%s/%s: %w", u.bucket, u.key, err)
		return u.err
	}
	u.done = true
	return nil
}

// Parts is the number of parts sent (0 when the object went up in one PutObject).
func (u *Upload) Parts() int { return len(u.parts) }

// Abort discards the parts sent so far. It uses ctx rather than the upload's context,
// which may be the one that was cancelled. Aborting an upload that sent no part, or one
// that completed, is a no-op.
func (u *Upload) Abort(ctx context.Context) error {
	u.closed = true
	u.buf = nil
	if u.id == "" || u.done {
		return nil
	}
	if _, err := u.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &u.bucket, Key: &u.key, UploadId: &u.id}); err != nil {
		return fmt.Errorf("abort upload of s3://%s/%s: %w", u.bucket, u.key, err)
	}
	return nil
}

// Upload starts a streamed upload of key in the bucket (see NewUpload).
func (b Bucket) Upload(ctx context.Context, key, contentType string, partSize int) (*Upload, error) {
	return b.Store.Upload(ctx, b.Name, key, contentType, partSize)
}
