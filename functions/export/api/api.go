// Package api is the export part of the customer API: POST /v1/jobs/{id}/exports queues
// an export of a job's labels, GET /v1/exports/{id} shows its status and, once done, a
// short-lived download link. It authenticates the customer's API key (Authorization:
// Bearer cgk_…) itself; the customer API function mounts it for Routes.
package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/blob"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Routes are the export routes of the customer API. They belong to the customer API's
// function in routes.Table (Function is left for it to fill); its handler mounts New's
// handler for these patterns.
var Routes = []routes.Route{
	{Method: "POST", Path: "/v1/jobs/{id}/exports", Auth: routes.Public},
	{Method: "GET", Path: "/v1/exports/{id}", Auth: routes.Public},
}

// Authenticator checks a customer API key (*account.CustomerService).
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (account.APIKey, error)
}

// Jobs reads job definitions (*dynamo.Jobs).
type Jobs interface {
	GetJob(ctx context.Context, id string) (job.Job, error)
}

// Store keeps export records (*dynamo.Exports).
type Store interface {
	Create(ctx context.Context, e export.Export) error
	Get(ctx context.Context, id string) (export.Export, error)
}

// Links signs download links in the exports bucket (blob.Bucket).
type Links interface {
	PresignDownload(ctx context.Context, key string, d blob.Download, ttl time.Duration) (string, error)
}

var (
	_ Authenticator = (*account.CustomerService)(nil)
	_ Jobs          = (*dynamo.Jobs)(nil)
	_ Store         = (*dynamo.Exports)(nil)
	_ Links         = blob.Bucket{}
)

// Deps are the export API's ports.
type Deps struct {
	Auth    Authenticator
	Jobs    Jobs
	Exports Store
	// Queue is the exports queue.
	Queue platform.Sender
	Links Links
	// MediaBucket is the deployed media bucket's name, for the s3:// URIs of image items.
	MediaBucket string
	Now         func() time.Time
}

// Error codes of the export API (docs/API.md); job_not_found and job_deleting are the
// jobs API's, 401 is web.CodeUnauthorized as there.
const (
	CodeJobNotFound    = "job_not_found"
	CodeJobDeleting    = "job_deleting"
	CodeExportNotFound = "export_not_found"
	CodeInvalidFormat  = "invalid_format"
)

// maxBody bounds the request body.
const maxBody = 1 << 10

// New returns the export API's handler for Routes.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	a := &exportAPI{d: d}
	mux := http.NewServeMux()
	mux.Handle(Routes[0].Pattern(), Authenticated(a.d.Auth, a.create))
	mux.Handle(Routes[1].Pattern(), Authenticated(a.d.Auth, a.get))
	return mux
}

type exportAPI struct{ d Deps }

// Authenticated answers 401 unless the request carries a working customer API key
// (Authorization: Bearer <key>), and hands the key's customer to next. The jobs API uses it
// too, so the whole customer API authenticates one way.
func Authenticated(auth Authenticator, next func(w http.ResponseWriter, r *http.Request, customerID string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := web.BearerToken(r)
		if !ok {
			web.Unauthorized(w, r, "crowdgate", "send your API key as Authorization: Bearer <key>")
			return
		}
		k, err := auth.Authenticate(r.Context(), key)
		if errors.Is(err, account.ErrInvalidKey) {
			web.Unauthorized(w, r, "crowdgate", "the API key is not valid (unknown, malformed or revoked)")
			return
		}
		if err != nil {
			web.WriteError(w, r, err)
			return
		}
		next(w, r, k.CustomerID)
	})
}

// View is an export as the API shows it.
type View struct {
	ID          string     `json:"id"`
	JobID       string     `json:"job_id"`
	Format      string     `json:"format"`
	Status      string     `json:"status"`
	Rows        *int64     `json:"rows,omitempty"`
	Error       string     `json:"error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	ExpiresAt   time.Time  `json:"expires_at"`
	// URL is a download link, present once the export is done; it works until
	// URLExpiresAt (at most 15 minutes). Asking again gives a fresh one.
	URL          string     `json:"url,omitempty"`
	URLExpiresAt *time.Time `json:"url_expires_at,omitempty"`
}

func view(e export.Export) View {
	v := View{ID: e.ID, JobID: e.JobID, Format: string(e.Format), Status: string(e.Status), Error: e.Error,
		CreatedAt: e.CreatedAt.UTC(), ExpiresAt: e.ExpiresAt.UTC()}
	if e.Status == export.StatusDone {
		rows := e.Rows
		v.Rows = &rows
	}
	if e.Status == export.StatusDone || e.Status == export.StatusFailed {
		t := e.CompletedAt.UTC().Truncate(time.Second) // whole seconds, as every other time the API shows
		v.CompletedAt = &t
	}
	return v
}

type createRequest struct {
	Format string `json:"format"`
}

func (a *exportAPI) create(w http.ResponseWriter, r *http.Request, customerID string) {
	var req createRequest
	if err := web.DecodeJSON(r, maxBody, &req); err != nil {
		web.WriteError(w, r, err)
		return
	}
	f, err := export.ParseFormat(req.Format)
	if err != nil {
		web.WriteError(w, r, web.Errorf(http.StatusBadRequest, CodeInvalidFormat, `format must be "manifest" or "csv"`))
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if job.ValidID(id) != nil {
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, CodeJobNotFound, "no such job"))
		return
	}
	j, err := a.d.Jobs.GetJob(ctx, id)
	// Another customer's job is exactly as absent as one that does not exist.
	if errors.Is(err, job.ErrNotFound) || (err == nil && j.CustomerID != customerID) {
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, CodeJobNotFound, "no such job"))
		return
	}
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	if j.Status == job.StatusDeleting {
		web.WriteError(w, r, web.Errorf(http.StatusConflict, CodeJobDeleting, "the job is being deleted"))
		return
	}
	e, err := export.New(customerID, j.ID, f, a.d.MediaBucket, a.d.Now())
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	if err := a.d.Exports.Create(ctx, e); err != nil {
		web.WriteError(w, r, err)
		return
	}
	// The record exists before its message, so the consumer always finds it. If the
	// message cannot be sent the export stays queued until it expires; the customer asks
	// again.
	if err := a.d.Queue.SendJSON(ctx, export.Message{V: export.MessageVersion, ExportID: e.ID}); err != nil {
		web.Logger(ctx).ErrorContext(ctx, "queueing an export failed", "export_id", e.ID, "err", err)
		web.WriteError(w, r, web.Errorf(http.StatusServiceUnavailable, web.CodeUnavailable, "the export could not be queued; try again"))
		return
	}
	w.Header().Set("Location", "/v1/exports/"+e.ID)
	web.WriteJSON(w, http.StatusAccepted, view(e))
}

func (a *exportAPI) get(w http.ResponseWriter, r *http.Request, customerID string) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !strings.HasPrefix(id, "exp_") || len(id) > 64 {
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, CodeExportNotFound, "no such export"))
		return
	}
	e, err := a.d.Exports.Get(ctx, id)
	if errors.Is(err, export.ErrNotFound) || (err == nil && e.CustomerID != customerID) {
		web.WriteError(w, r, web.Errorf(http.StatusNotFound, CodeExportNotFound, "no such export"))
		return
	}
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	v := view(e)
	if e.Status == export.StatusDone {
		// Read the clock before signing: the link counts its lifetime from the signing
		// second, which is never earlier, so the expiry shown is never later than the real.
		until := a.d.Now().UTC().Add(export.LinkTTL).Truncate(time.Second)
		// A browser saves the file under a name that says which job and export it is,
		// as the format's type (docs/API.md), not under the key's last segment.
		d := blob.Download{Filename: e.Filename(), ContentType: e.Format.ContentType()}
		url, err := a.d.Links.PresignDownload(ctx, e.Key, d, export.LinkTTL)
		if err != nil {
			web.WriteError(w, r, err)
			return
		}
		v.URL, v.URLExpiresAt = url, &until
	}
	web.WriteJSON(w, http.StatusOK, v)
}

// Wire builds the export API from the customer API function's environment: the accounts
// table (API keys), the labels table (jobs and exports), the exports queue, the exports
// bucket (download links) and the media bucket's name.
func Wire(_ context.Context, env *platform.Env) (http.Handler, error) {
	accounts, err := env.Config.Table(schema.TableAccounts)
	if err != nil {
		return nil, err
	}
	labels, err := env.Config.Table(schema.TableLabels)
	if err != nil {
		return nil, err
	}
	exportsBucket, err := env.Config.Bucket(schema.BucketExports)
	if err != nil {
		return nil, err
	}
	media, err := env.Config.Bucket(schema.BucketMedia)
	if err != nil {
		return nil, err
	}
	q, err := env.Queue(schema.QueueExports)
	if err != nil {
		return nil, err
	}
	now := env.Clock()
	db := env.DynamoDB()
	exports := dynamo.NewExports(db, labels)
	exports.Now = now
	return New(Deps{
		Auth:        account.NewCustomerService(dynamo.NewAccounts(db, accounts), now),
		Jobs:        dynamo.NewJobs(db, labels),
		Exports:     exports,
		Queue:       q,
		Links:       blob.Bucket{Store: blob.New(env.S3()), Name: exportsBucket},
		MediaBucket: media,
		Now:         now,
	}), nil
}
