// Package stack is the local stack behind `crowdgate serve`: one process on loopback that
// stands in for API Gateway (one router from shared/routes), Lambda (each function's own
// Wire), SQS (the in-process queue broker), DynamoDB and S3 (the localaws servers, data
// kept in the data directory). It seeds a demo integrator, site and labeling job and
// serves a demo form page, so a developer can try the whole CAPTCHA loop with `make run`.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/demo"
	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/localaws"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/queue"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schedules"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Defaults of Options.
const (
	DefaultAddr    = "127.0.0.1:8080"
	DefaultDataDir = ".crowdgate"
)

// Options configure the local stack.
type Options struct {
	// Addr is the listen address (host:port; port 0 picks a free one).
	Addr string
	// DataDir keeps DynamoDB and S3 data, the admin token, the signing key and demo.json.
	DataDir string
	// PublicURL is the base URL browsers use; default http://<listen address>.
	PublicURL string
	// Log receives the stack's and the functions' JSON logs; nil discards them.
	Log *slog.Logger
	// Out receives the start-up banner (URLs, keys); nil discards it.
	Out io.Writer
}

// server is what the localaws servers have in common.
type server interface {
	Endpoint() string
	Close() error
}

// Stack is a running local stack.
type Stack struct {
	opts   Options
	log    *slog.Logger
	demo   Demo
	ln     net.Listener
	http   *http.Server
	broker *queue.Broker
	dynamo server
	s3     server
	served chan error
	lock   *os.File // held while the stack runs (lockDataDir)
}

// Run starts the stack and serves until ctx is cancelled, then shuts down cleanly.
func Run(ctx context.Context, opts Options) error {
	s, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.served:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return errors.Join(serveErr, s.Close(shutdownCtx))
}

// Start brings the stack up and returns once it serves and demo.json is written.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.DataDir == "" {
		opts.DataDir = DefaultDataDir
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	s := &Stack{opts: opts, log: opts.Log, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = s.Close(context.WithoutCancel(ctx))
		}
	}()

	// Listen first: the public URL (in links the functions build) needs the real port,
	// and a busy port (often a stack already running on this data directory) must fail
	// before anything in the data directory changes, its demo.json included.
	if err := CheckAddr(opts.Addr); err != nil {
		return nil, err
	}
	s.ln, err = net.Listen("tcp", opts.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: %w: is crowdgate (make run) already running? Stop it, or serve on another port: make run ARGS=\"--addr 127.0.0.1:8081\" (crowdgate serve --addr …)", opts.Addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if s.lock, err = lockDataDir(opts.DataDir); err != nil {
		return nil, err
	}
	// demo.json announces readiness: remove the last run's before anything else is written.
	if err := os.Remove(filepath.Join(opts.DataDir, DemoFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove old %s: %w", DemoFile, err)
	}
	st, err := loadState(opts.DataDir)
	if err != nil {
		return nil, err
	}

	url := "http://" + s.ln.Addr().String()
	publicURL := strings.TrimRight(opts.PublicURL, "/")
	if publicURL == "" {
		publicURL = url
	}

	dyn, err := localaws.StartDynamo(ctx, opts.DataDir, s.log)
	if err != nil {
		return nil, fmt.Errorf("start local DynamoDB: %w", err)
	}
	s.dynamo = dyn
	s3srv, err := localaws.StartS3(ctx, opts.DataDir, s.log)
	if err != nil {
		return nil, fmt.Errorf("start local S3: %w", err)
	}
	s.s3 = s3srv

	s.broker = queue.NewBroker(s.log)
	for _, q := range schema.Queues {
		s.broker.Declare(q)
	}
	if err := restoreQueues(s.broker, opts.DataDir, s.log); err != nil {
		return nil, err
	}
	outboxDir := filepath.Join(opts.DataDir, OutboxDir)
	outbox, err := mail.NewFileOutbox(outboxDir)
	if err != nil {
		return nil, fmt.Errorf("open mail outbox: %w", err)
	}
	env := newEnv(LocalAWS(dyn.Endpoint(), s3srv.Endpoint()), publicURL, st, outboxDir, s.broker.Sender, s.log)

	// Set-up takes about a second; the bound only stops a stand-in that hangs, and is wide
	// because a race-enabled test binary on a busy two-core machine is far slower.
	setupCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(setupCtx, env.DynamoDB(), env.Config.Tables); err != nil {
		return nil, err
	}
	if err := createBuckets(setupCtx, env); err != nil {
		return nil, err
	}

	// Seed before wiring, so functions that load data at start-up see the demo job.
	seeded, err := seed(setupCtx, env, &st, opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("seed demo data: %w", err)
	}
	if err := saveState(opts.DataDir, st); err != nil {
		return nil, err
	}

	// Functions get the stack's lifetime context, as a Lambda's init gets one that lives as
	// long as the process (background work they start must not end with the set-up).
	fns := map[string]http.Handler{}
	for _, name := range routes.Functions() {
		wire, ok := httpFunctions[name]
		if !ok {
			return nil, fmt.Errorf("no Wire registered for function %q", name)
		}
		h, err := wire(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("wire %s: %w", name, err)
		}
		fns[name] = h
	}
	for _, q := range schema.Queues {
		wire, ok := queueConsumers[q.Consumer]
		if !ok {
			continue // the consumer function is not written yet: messages wait in the queue
		}
		h, err := wire(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("wire %s: %w", q.Consumer, err)
		}
		s.broker.Subscribe(q.Name, platform.IsolatePanics(h, s.log), q.BatchSize)
	}
	jobs, err := bindSchedules(ctx, env, schedules.Table)
	if err != nil {
		return nil, err
	}
	runSchedules(ctx, jobs, s.log)
	runLifecycle(ctx, env, s.log)

	pages := demo.Routes(demo.Config{Sitekey: st.Sitekey, Secret: st.Secret, VerifyURL: url + "/siteverify"})
	pages["GET /_outbox"] = outbox.Handler()
	// A developer opening the stack's address in a browser lands on the demo.
	pages["GET /{$}"] = http.RedirectHandler("/demo", http.StatusFound)
	router, err := NewRouter(fns, st.AdminToken, pages)
	if err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           web.Middleware(s.log, router),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// The server and listener are handed over, not read from s in the goroutine: Close
	// clears those fields, possibly before the goroutine has started.
	srv, ln := s.http, s.ln
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.served <- fmt.Errorf("http server: %w", err)
		}
	}()

	tables, buckets := Names()
	s.demo = Demo{
		URL: url, DemoURL: publicURL + "/demo",
		Sitekey: st.Sitekey, Secret: st.Secret, AdminToken: st.AdminToken,
		DynamoDBEndpoint: dyn.Endpoint(), S3Endpoint: s3srv.Endpoint(),
		Tables: tables, Buckets: buckets,
		IntegratorID: st.IntegratorID, CustomerID: st.CustomerID, CustomerAPIKey: st.CustomerAPIKey, JobID: st.JobID,
	}
	if err := writeSecretJSON(filepath.Join(opts.DataDir, DemoFile), s.demo); err != nil {
		return nil, err
	}
	s.banner(seeded)
	s.log.Info("local stack ready", "url", url, "data_dir", opts.DataDir)
	return s, nil
}

// CheckAddr refuses a listen address that is not loopback (":8080" and "0.0.0.0:8080"
// included): the stack checks no credentials on its mail outbox and demo pages, and its
// data is a developer's, so it must not be reachable from the network.
func CheckAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if !LoopbackHost(host) {
		return fmt.Errorf("listen address %q: only loopback addresses (127.0.0.1, [::1], localhost) are allowed", addr)
	}
	return nil
}

// LoopbackHost reports whether host (without port or brackets) names this machine:
// localhost, 127.0.0.0/8 or ::1.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Demo describes the running stack (the content of demo.json).
func (s *Stack) Demo() Demo { return s.demo }

// Close shuts the stack down: no new requests, running ones finish (until ctx ends), then
// the queues stop, DynamoDB is snapshotted to the data directory and S3 is closed.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	if s.demo.URL != "" {
		// demo.json means "running": tools wait for it to appear.
		if err := os.Remove(filepath.Join(s.opts.DataDir, DemoFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if s.ln != nil {
		_ = s.ln.Close()
	}
	if s.broker != nil {
		s.broker.Close()
		for _, q := range schema.Queues {
			if visible, inFlight, dead := s.broker.Stats(q.Name); visible+inFlight+dead > 0 {
				s.log.Info("queue at shutdown (kept for the next start)", "queue", q.Name,
					"visible", visible, "in_flight", inFlight, "dead_letters", dead)
			}
		}
		if err := saveQueues(s.broker, s.opts.DataDir); err != nil {
			errs = append(errs, err)
		}
	}
	if s.dynamo != nil {
		if err := s.dynamo.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close local DynamoDB: %w", err))
		}
	}
	if s.s3 != nil {
		if err := s.s3.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close local S3: %w", err))
		}
	}
	if s.lock != nil {
		_ = s.lock.Close() // releases the flock
	}
	s.http, s.ln, s.broker, s.dynamo, s.s3, s.lock = nil, nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

func (s *Stack) banner(seeded seedReport) {
	d := s.demo
	w := s.opts.Out
	fmt.Fprintf(w, "\ncrowdgate local stack is running on %s\n\n", d.URL)
	fmt.Fprintf(w, "  Demo form      %s\n", d.DemoURL)
	fmt.Fprintf(w, "  Sitekey        %s\n", d.Sitekey)
	fmt.Fprintf(w, "  Secret         %s\n", d.Secret)
	fmt.Fprintf(w, "  Admin token    %s\n", d.AdminToken)
	fmt.Fprintf(w, "  Customer key   %s (customer API: Authorization: Bearer …)\n", d.CustomerAPIKey)
	fmt.Fprintf(w, "  Demo job       %s (%d images: %d gold, %d to label)\n", d.JobID, seeded.Items, seeded.Gold, seeded.Items-seeded.Gold)
	fmt.Fprintf(w, "  Mail outbox    %s/_outbox\n", d.URL)
	fmt.Fprintf(w, "  DynamoDB       %s\n", d.DynamoDBEndpoint)
	fmt.Fprintf(w, "  S3             %s\n", d.S3Endpoint)
	fmt.Fprintf(w, "  Data           %s (details in %s)\n\n", s.opts.DataDir, filepath.Join(s.opts.DataDir, DemoFile))
	// --region rather than AWS_REGION, which version 1 of the AWS CLI does not read.
	fmt.Fprintf(w, "  Look inside:   AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\\n")
	fmt.Fprintf(w, "                 aws --region %s --endpoint-url %s dynamodb scan --table-name %s\n", Region, d.DynamoDBEndpoint, d.Tables[schema.TableAccounts])
	fmt.Fprintf(w, "  Admin API:     crowdgate site get %s --data-dir %s\n\n", d.Sitekey, s.opts.DataDir)
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}
