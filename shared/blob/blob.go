// Package blob adapts S3: objects in the media, exports and privacy buckets, and presigned
// links that let a browser read or upload one object for a short time without credentials.
// The same code runs against AWS and the local stack's gofakes3.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MaxPresignTTL is the longest link S3 accepts (SigV4: 7 days).
const MaxPresignTTL = 7 * 24 * time.Hour

// ErrNotFound: no such object (or bucket).
var ErrNotFound = errors.New("blob: not found")

// Store reads and writes objects and signs links.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
}

// New returns a Store over an S3 client (platform.Env.S3()).
func New(client *s3.Client) *Store {
	return &Store{client: client, presign: s3.NewPresignClient(client)}
}

// Object is an object being read; close Body.
type Object struct {
	Body        io.ReadCloser
	ContentType string
	Size        int64
}

// Put stores body under bucket/key. A body that cannot seek is read into memory first:
// SigV4 over plain HTTP signs the payload hash, and S3 needs the length up front.
func (s *Store) Put(ctx context.Context, bucket, key, contentType string, body io.Reader) error {
	rs, ok := body.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("read object body: %w", err)
		}
		rs = bytes.NewReader(b)
	}
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: rs}
	if contentType != "" {
		in.ContentType = &contentType
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// Get opens bucket/key (ErrNotFound if it does not exist).
func (s *Store) Get(ctx context.Context, bucket, key string) (Object, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return Object{}, ErrNotFound
		}
		return Object{}, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	return Object{Body: out.Body, ContentType: aws.ToString(out.ContentType), Size: aws.ToInt64(out.ContentLength)}, nil
}

// Delete removes bucket/key; deleting a missing object is not an error (S3 semantics).
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// PresignGet returns a link that reads bucket/key for ttl. Signing is local: no request
// is made, and the object need not exist yet.
func (s *Store) PresignGet(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
	return s.PresignDownload(ctx, bucket, key, Download{}, ttl)
}

// Download says how a browser that follows a link saves the object. The fields become the
// signed response-content-disposition and response-content-type parameters, so S3 answers
// with those headers whatever the object was stored with, and nobody can change them
// without breaking the signature.
type Download struct {
	// Filename, when set, makes the response an attachment saved under this name
	// (Attachment).
	Filename string
	// ContentType, when set, is the response's Content-Type.
	ContentType string
}

// PresignDownload is PresignGet with the response headers of d.
func (s *Store) PresignDownload(ctx context.Context, bucket, key string, d Download, ttl time.Duration) (string, error) {
	return s.presignGet(ctx, bucket, key, d, ttl, time.Time{})
}

// PresignGetAt is PresignGet with the signature dated at (a moment ago, not in the
// future): the link works from at until at+ttl.
func (s *Store) PresignGetAt(ctx context.Context, bucket, key string, ttl time.Duration, at time.Time) (string, error) {
	return s.presignGet(ctx, bucket, key, Download{}, ttl, at)
}

// datedPresigner signs at a given time instead of the clock's.
type datedPresigner struct {
	next s3.HTTPPresignerV4
	at   time.Time
}

func (p datedPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.next.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.at, optFns...)
}

// presignGet signs a read link, dated at (the clock's time when zero).
func (s *Store) presignGet(ctx context.Context, bucket, key string, d Download, ttl time.Duration, at time.Time) (string, error) {
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if d.Filename != "" {
		in.ResponseContentDisposition = aws.String(Attachment(d.Filename))
	}
	if d.ContentType != "" {
		in.ResponseContentType = &d.ContentType
	}
	opts := []func(*s3.PresignOptions){s3.WithPresignExpires(ttl)}
	if !at.IsZero() {
		opts = append(opts, func(o *s3.PresignOptions) { o.Presigner = datedPresigner{next: o.Presigner, at: at} })
	}
	req, err := s.presign.PresignGetObject(ctx, in, opts...)
	if err != nil {
		return "", fmt.Errorf("presign get s3://%s/%s: %w", bucket, key, err)
	}
	return req.URL, nil
}

// Attachment is a Content-Disposition that saves a response as a file named name (RFC
// 6266). filename= is the name in printable ASCII, for every client; a character that is
// not, or that some system refuses in file names (/ \ : * ? " < > |), or % (which some
// clients decode), becomes "_". When name is not plain ASCII, filename* (RFC 8187,
// UTF-8) carries it as well, and clients that know it prefer it.
func Attachment(name string) string {
	var ascii, ext strings.Builder
	plain := true
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|%`, r):
			ascii.WriteByte('_')
			ext.WriteByte('_')
		case r < 0x80:
			ascii.WriteRune(r)
			ext.WriteString(attrChars(string(r)))
		default:
			plain = false
			ascii.WriteByte('_')
			ext.WriteString(attrChars(string(r)))
		}
	}
	v := `attachment; filename="` + ascii.String() + `"`
	if !plain {
		v += "; filename*=UTF-8''" + ext.String()
	}
	return v
}

// attrChars percent-encodes the UTF-8 bytes of s that are not attr-char (RFC 8187).
func attrChars(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// PresignPut returns a link that uploads bucket/key for ttl; the uploader must send the
// same Content-Type header (it is signed).
func (s *Store) PresignPut(ctx context.Context, bucket, key, contentType string, ttl time.Duration) (string, error) {
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key}
	if contentType != "" {
		in.ContentType = &contentType
	}
	req, err := s.presign.PresignPutObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign put s3://%s/%s: %w", bucket, key, err)
	}
	return req.URL, nil
}

func checkTTL(ttl time.Duration) error {
	if ttl < time.Second || ttl > MaxPresignTTL {
		return fmt.Errorf("blob: link lifetime %v (want 1s to 7 days)", ttl)
	}
	return nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nb *types.NoSuchBucket
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nb) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			return true
		}
	}
	return false
}

// Bucket binds a Store to one bucket: the challenge function's media links.
type Bucket struct {
	Store *Store
	Name  string
}

// PresignGet signs a read link for key in the bucket.
func (b Bucket) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return b.Store.PresignGet(ctx, b.Name, key, ttl)
}

// PresignGetAt signs a read link for key in the bucket, dated at.
func (b Bucket) PresignGetAt(ctx context.Context, key string, ttl time.Duration, at time.Time) (string, error) {
	return b.Store.PresignGetAt(ctx, b.Name, key, ttl, at)
}

// PresignDownload signs a read link for key in the bucket that downloads as d says.
func (b Bucket) PresignDownload(ctx context.Context, key string, d Download, ttl time.Duration) (string, error) {
	return b.Store.PresignDownload(ctx, b.Name, key, d, ttl)
}

// Links signs read links for one bucket and reuses a link for the same key and lifetime
// within one reuse window (fixed windows of the clock, each Reuse long, at most a fifth
// of the lifetime).
// Presigning goes through the SDK's whole middleware stack (about 0.1 ms of CPU per link)
// and a challenge needs ~19 links, mostly of the same pool images, so reuse saves most of
// a challenge's CPU. Links are signed for ttl plus the window, so a link served from the
// cache still works for the whole ttl (a visitor's images do not break before their
// challenge expires); the price is that a link may work up to a window longer.
//
// Every link is dated at the start of its window (fixed windows of the clock), reused or
// not: a reused link's older signing time would otherwise mark the images shown a moment
// ago, and in a challenge those are the gold ones, which recur far more than open ones.
type Links struct {
	Signer LinkSigner
	Reuse  time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	cache map[linkKey]link
}

type linkKey struct {
	key string
	ttl time.Duration
}

type link struct {
	url      string
	signedAt time.Time
}

// maxCachedLinks bounds the cache; when full it starts over.
const maxCachedLinks = 20000

// LinkSigner signs read links for one bucket, dated at a given time (Bucket).
type LinkSigner interface {
	PresignGetAt(ctx context.Context, key string, ttl time.Duration, at time.Time) (string, error)
}

// NewLinks returns a link cache over signer with a reuse window.
func NewLinks(signer LinkSigner, reuse time.Duration) *Links {
	return &Links{Signer: signer, Reuse: reuse}
}

// PresignGet returns a cached or fresh read link for key.
func (l *Links) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	k := linkKey{key, ttl}
	window := min(l.Reuse, ttl/5)
	start := now
	if window > 0 {
		start = now.Truncate(window)
	}
	l.mu.Lock()
	c, ok := l.cache[k]
	l.mu.Unlock()
	if ok && c.signedAt.Equal(start) {
		return c.url, nil
	}
	// Signed at the window's start for ttl plus the window: it works for at least ttl
	// from any moment in the window.
	url, err := l.Signer.PresignGetAt(ctx, key, ttl+window, start)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	if l.cache == nil || len(l.cache) >= maxCachedLinks {
		l.cache = map[linkKey]link{}
	}
	l.cache[k] = link{url: url, signedAt: start}
	l.mu.Unlock()
	return url, nil
}
