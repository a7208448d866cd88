// Package localaws runs the local stack's DynamoDB and S3 stand-ins in-process, each on
// its own loopback port, so the same SDK adapter code runs locally and on AWS and any
// tool (aws --endpoint-url, an SDK) can look inside while `crowdgate serve` runs.
package localaws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Option tunes a stand-in; the zero configuration is what the local stack wants.
type Option func(*options)

type options struct {
	addr          string
	now           func() time.Time
	sweepEvery    time.Duration
	snapshotEvery time.Duration
}

func defaults(opts []Option) options {
	o := options{addr: "127.0.0.1:0", now: time.Now, sweepEvery: 30 * time.Second, snapshotEvery: 30 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithAddr sets the listen address (default 127.0.0.1 on a random port). Only loopback
// addresses are accepted: the stand-ins authenticate no one (the S3 stand-in's presigned
// link check uses the well-known local credentials, for parity with S3, not protection).
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithClock replaces the wall clock the DynamoDB stand-in uses to find expired items and
// the S3 stand-in uses to find expired presigned links.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithSweepInterval sets how often the DynamoDB stand-in deletes expired items (30 s).
func WithSweepInterval(d time.Duration) Option { return func(o *options) { o.sweepEvery = d } }

// WithSnapshotInterval sets how often the DynamoDB stand-in saves changed data (30 s).
func WithSnapshotInterval(d time.Duration) Option { return func(o *options) { o.snapshotEvery = d } }

// listenLoopback listens on addr after checking it is a loopback address.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen address %q: only loopback IP addresses are allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// serve runs h on ln in the background with timeouts suited to a local server.
func serve(ln net.Listener, h http.Handler, log *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("local server stopped", "err", err)
		}
	}()
	return srv
}

func shutdown(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		// Shutdown waits for connections that were dialled but never sent a request (the
		// SDK opens such spares) until they are 5 s old; by now every real request has had
		// its answer, so close what is left.
		if cerr := srv.Close(); cerr != nil {
			return fmt.Errorf("stop server: %w", errors.Join(err, cerr))
		}
	}
	return nil
}

// writeFileAtomic replaces path with data so a crash leaves either the old or the new
// file, never a torn one.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename itself durable where the filesystem allows
		d.Close()
	}
	return nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
