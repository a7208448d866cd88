package localaws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Dir is the directory under the data directory that holds the S3 objects.
const S3Dir = "s3"

// S3 is the local S3: gofakes3 (path-style addressing, multipart uploads) on a loopback
// port. Presigned links are verified as S3 does (expiry, and the SigV4 signature over the
// method, path, query and signed headers such as Content-Type and Content-Length, with the
// local credentials AccessKeyID/SecretAccessKey), answering 403 with S3's XML errors;
// requests signed in an Authorization header are not checked. Objects are served from
// memory and written through to <dataDir>/s3/<bucket>/ as one file per object, so they
// survive restarts. Versioning is not supported locally.
//
// gofakes3's bolt backend would need go.etcd.io/bbolt and gopkg.in/mgo.v2, which the
// module does not require; the write-through directory needs nothing beyond the
// standard library.
type S3 struct {
	log       *slog.Logger
	ln        net.Listener
	srv       *http.Server
	closeOnce sync.Once
	closeErr  error
}

// StartS3 starts the local S3 on a loopback port with the buckets and objects saved in
// dataDir (an empty dataDir keeps everything in memory). ctx bounds the start-up only.
func StartS3(ctx context.Context, dataDir string, log *slog.Logger, opts ...Option) (*S3, error) {
	if log == nil {
		log = slog.Default()
	}
	o := defaults(opts)
	log = log.With("component", "local-s3")
	backend := &diskBackend{Backend: s3mem.New()}
	objects := 0
	if dataDir != "" {
		backend.dir = filepath.Join(dataDir, S3Dir)
		if err := os.MkdirAll(backend.dir, 0o700); err != nil {
			return nil, fmt.Errorf("local s3: %w", err)
		}
		n, err := backend.load(ctx)
		if err != nil {
			return nil, fmt.Errorf("local s3: %w", err)
		}
		objects = n
	}
	ln, err := listenLoopback(o.addr)
	if err != nil {
		return nil, fmt.Errorf("local s3: %w", err)
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(s3Log{log}))
	s := &S3{log: log, ln: ln}
	check := presignCheck{next: faker.Server(), now: o.now, secrets: map[string]string{AccessKeyID: SecretAccessKey}, log: log}
	s.srv = serve(ln, check, log)
	log.Info("local s3 started", "endpoint", s.Endpoint(), "objects", objects, "persisted", dataDir != "")
	return s, nil
}

// Endpoint is the base URL for SDK clients (BaseEndpoint, path-style) and aws --endpoint-url.
func (s *S3) Endpoint() string { return "http://" + s.ln.Addr().String() }

// Close stops the server; every write is already on disk.
func (s *S3) Close() error {
	s.closeOnce.Do(func() { s.closeErr = shutdown(s.srv) })
	return s.closeErr
}

// s3Log sends gofakes3's log lines to slog: errors and warnings as warnings, request
// lines (which name buckets and keys) at debug level only.
type s3Log struct{ log *slog.Logger }

func (l s3Log) Print(level gofakes3.LogLevel, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintln(v...))
	switch level {
	case gofakes3.LogErr, gofakes3.LogWarn:
		l.log.Warn("s3", "detail", msg)
	default:
		l.log.Debug("s3", "detail", msg)
	}
}

// diskBackend is gofakes3's in-memory backend with every change written through to a
// directory: one folder per bucket, one file per object holding a JSON header line (key
// and metadata) and then the body, replaced atomically.
type diskBackend struct {
	gofakes3.Backend
	dir string // empty: memory only
	// mu orders each change to memory with its write to disk, so disk ends up as memory.
	mu sync.Mutex
}

var _ gofakes3.Backend = (*diskBackend)(nil)

// ListBuckets lists the buckets by name, as S3 does; s3mem keeps them in a map, so its
// order changes from call to call.
func (b *diskBackend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	buckets, err := b.Backend.ListBuckets()
	slices.SortFunc(buckets, func(x, y gofakes3.BucketInfo) int { return strings.Compare(x.Name, y.Name) })
	return buckets, err
}

type objectHeader struct {
	Key  string            `json:"key"`
	Meta map[string]string `json:"meta"`
}

// signingHeaders are request details gofakes3 would otherwise keep as object metadata.
var signingHeaders = []string{"X-Amz-Security-Token", "X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Decoded-Content-Length"}

func (b *diskBackend) bucketDir(bucket string) (string, error) {
	if err := gofakes3.ValidateBucketName(bucket); err != nil {
		return "", err
	}
	return filepath.Join(b.dir, bucket), nil
}

func (b *diskBackend) objectPath(bucket, key string) (string, error) {
	dir, err := b.bucketDir(bucket)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, hex.EncodeToString(sum[:])+".obj"), nil
}

func (b *diskBackend) CreateBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.Backend.CreateBucket(name); err != nil {
		return err
	}
	if b.dir == "" {
		return nil
	}
	dir, err := b.bucketDir(name)
	if err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

func (b *diskBackend) DeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.Backend.DeleteBucket(name); err != nil {
		return err
	}
	return b.removeBucket(name)
}

func (b *diskBackend) ForceDeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.Backend.ForceDeleteBucket(name); err != nil {
		return err
	}
	return b.removeBucket(name)
}

func (b *diskBackend) removeBucket(name string) error {
	if b.dir == "" {
		return nil
	}
	dir, err := b.bucketDir(name)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func (b *diskBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	// Read before locking so a slow upload does not hold up everyone else.
	body, err := gofakes3.ReadAll(input, size)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	for _, h := range signingHeaders {
		delete(meta, h)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.Backend.PutObject(bucket, key, meta, bytes.NewReader(body), int64(len(body)), conditions)
	if err != nil {
		return res, err
	}
	return res, b.persist(bucket, key, body)
}

func (b *diskBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	for _, h := range signingHeaders {
		delete(meta, h)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.Backend.CopyObject(srcBucket, srcKey, dstBucket, dstKey, meta)
	if err != nil || b.dir == "" {
		return res, err
	}
	obj, err := b.Backend.GetObject(dstBucket, dstKey, nil)
	if err != nil {
		return res, err
	}
	defer obj.Contents.Close()
	body, err := io.ReadAll(obj.Contents)
	if err != nil {
		return res, err
	}
	return res, b.persist(dstBucket, dstKey, body)
}

// persist writes one object as memory now holds it (metadata as stored, after merging).
func (b *diskBackend) persist(bucket, key string, body []byte) error {
	if b.dir == "" {
		return nil
	}
	head, err := b.Backend.HeadObject(bucket, key)
	if err != nil {
		return err
	}
	head.Contents.Close()
	header, err := json.Marshal(objectHeader{Key: key, Meta: head.Metadata})
	if err != nil {
		return fmt.Errorf("save object: %w", err)
	}
	path, err := b.objectPath(bucket, key)
	if err != nil {
		return err
	}
	data := make([]byte, 0, len(header)+1+len(body))
	data = append(append(append(data, header...), '\n'), body...)
	if err := WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("save object: %w", err)
	}
	return nil
}

func (b *diskBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.Backend.DeleteObject(bucket, key)
	if err != nil {
		return res, err
	}
	return res, b.unpersist(bucket, key)
}

func (b *diskBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.Backend.DeleteMulti(bucket, keys...)
	if err != nil {
		return res, err
	}
	for _, d := range res.Deleted {
		if err := b.unpersist(bucket, d.Key); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (b *diskBackend) unpersist(bucket, key string) error {
	if b.dir == "" {
		return nil
	}
	path, err := b.objectPath(bucket, key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete object file: %w", err)
	}
	return nil
}

// load fills memory from the directory and returns how many objects it loaded. Leftover
// temporary files from a crash are removed; a damaged object file stops the start.
func (b *diskBackend) load(ctx context.Context) (int, error) {
	buckets, err := os.ReadDir(b.dir)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", b.dir, err)
	}
	n := 0
	for _, bk := range buckets {
		if !bk.IsDir() || gofakes3.ValidateBucketName(bk.Name()) != nil {
			continue
		}
		if err := b.Backend.CreateBucket(bk.Name()); err != nil {
			return n, fmt.Errorf("restore bucket %s: %w", bk.Name(), err)
		}
		dir := filepath.Join(b.dir, bk.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			return n, fmt.Errorf("read %s: %w", dir, err)
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			path := filepath.Join(dir, f.Name())
			if strings.HasSuffix(f.Name(), ".tmp") {
				_ = os.Remove(path)
				continue
			}
			if !strings.HasSuffix(f.Name(), ".obj") {
				continue
			}
			if err := b.loadObject(bk.Name(), path); err != nil {
				return n, fmt.Errorf("restore %s (move it away to drop the object): %w", path, err)
			}
			n++
		}
	}
	return n, nil
}

func (b *diskBackend) loadObject(bucket, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	header, body, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return errors.New("no header line")
	}
	var h objectHeader
	if err := json.Unmarshal(header, &h); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if h.Meta == nil {
		h.Meta = map[string]string{}
	}
	_, err = b.Backend.PutObject(bucket, h.Key, h.Meta, bytes.NewReader(body), int64(len(body)), nil)
	return err
}
