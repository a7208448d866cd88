// Package handler is the jobs function: the customer API (routes under /v1/, docs/API.md
// "Customer API"). API Gateway lets every request through (Public routes); this handler
// authenticates the Bearer API key on each request and only ever shows the caller's own
// jobs: another customer's job is a 404, exactly like one that does not exist.
package handler

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	exportapi "github.com/crowdgate/crowdgate/functions/export/api"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/web"
)

// MaxBody caps request bodies: a batch of job.MaxBatch text items of job.MaxTextLen bytes
// fits with room for JSON escaping.
const MaxBody = 256 << 10

// Error codes of the customer API besides web's common ones (docs/API.md).
const (
	CodeJobNotFound  = "job_not_found"
	CodeInvalidJob   = "invalid_job"
	CodeInvalidItems = "invalid_items"
	CodeItemExists   = "item_exists"
	CodeJobDeleting  = "job_deleting"
	CodeKeyReused    = "idempotency_key_reused"
	// Per-item codes in a commit answer.
	CodeItemNotFound = "item_not_found"
	CodeNotUploaded  = "not_uploaded"
	CodeNotAnImage   = "not_an_image"
)

// Keys authenticates API keys (account.CustomerService).
type Keys interface {
	Authenticate(ctx context.Context, key string) (account.APIKey, error)
}

// Jobs is the customer jobs API's logic (job.Service).
type Jobs interface {
	Create(ctx context.Context, customerID string, in job.NewJob) (job.Job, error)
	CreateOnce(ctx context.Context, customerID, key string, in job.NewJob) (job.Job, bool, error)
	Get(ctx context.Context, customerID, id string) (job.Job, error)
	List(ctx context.Context, customerID, cursor string, limit int) (job.JobPage, error)
	Pause(ctx context.Context, customerID, id string) (job.Job, error)
	Resume(ctx context.Context, customerID, id string) (job.Job, error)
	Delete(ctx context.Context, customerID, id string) (job.Deletion, error)
	AddItems(ctx context.Context, customerID, jobID string, items []job.NewItem) ([]job.Added, error)
	Commit(ctx context.Context, customerID, jobID string, ids []string) ([]job.Committed, error)
	Items(ctx context.Context, customerID, jobID, cursor string, limit int) (job.ItemPage, error)
	Progress(ctx context.Context, customerID, jobID string) (job.Job, job.Progress, error)
}

var (
	_ Keys = (*account.CustomerService)(nil)
	_ Jobs = (*job.Service)(nil)
)

// Deps are the jobs function's ports.
type Deps struct {
	Keys Keys
	Jobs Jobs
	// Exports serves the export routes (functions/export/api, which authenticates the key
	// itself); nil answers them 503, for tests of the jobs routes alone.
	Exports http.Handler
}

type api struct{ jobs Jobs }

// New returns the jobs function's handler.
func New(d Deps) http.Handler {
	a := &api{jobs: d.Jobs}
	handlers := map[string]func(w http.ResponseWriter, r *http.Request, customer string){
		"POST /v1/jobs":                   a.create,
		"GET /v1/jobs":                    a.list,
		"GET /v1/jobs/{id}":               a.get,
		"DELETE /v1/jobs/{id}":            a.delete,
		"POST /v1/jobs/{id}/pause":        a.pause,
		"POST /v1/jobs/{id}/resume":       a.resume,
		"GET /v1/jobs/{id}/progress":      a.progress,
		"POST /v1/jobs/{id}/items":        a.addItems,
		"GET /v1/jobs/{id}/items":         a.listItems,
		"POST /v1/jobs/{id}/items/commit": a.commit,
	}
	exports := d.Exports
	if exports == nil {
		exports = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			web.WriteError(w, r, web.Errorf(http.StatusServiceUnavailable, web.CodeUnavailable, "exports are not configured"))
		})
	}
	served := map[string]http.Handler{}
	for pattern, h := range handlers {
		served[pattern] = exportapi.Authenticated(d.Keys, h)
	}
	for _, r := range exportapi.Routes {
		served[r.Pattern()] = exports
	}
	return web.Mount(routes.FunctionJobs, served)
}

// jobJSON is a job as the customer API shows it.
type jobJSON struct {
	ID               string              `json:"id"`
	Name             string              `json:"name"`
	Type             job.Kind            `json:"type"`
	Question         map[string]string   `json:"question"`
	Classes          []string            `json:"classes"`
	ClassNames       map[string][]string `json:"class_names,omitempty"`
	ItemLang         string              `json:"item_lang,omitempty"`
	MinAnswers       int                 `json:"min_answers"`
	MaxAnswers       int                 `json:"max_answers"`
	ConfidenceTarget float64             `json:"confidence_target"`
	Priority         int                 `json:"priority"`
	Status           job.Status          `json:"status"`
	CreatedAt        time.Time           `json:"created_at"`
	ExpiresAt        *time.Time          `json:"expires_at,omitempty"`
}

func toJobJSON(j job.Job) jobJSON {
	out := jobJSON{
		ID: j.ID, Name: j.Name, Type: j.Kind, Question: j.Question, Classes: j.Classes, ClassNames: j.ClassNames,
		ItemLang: j.ItemLang, MinAnswers: j.MinAnswers, MaxAnswers: j.MaxAnswers, ConfidenceTarget: j.Target, Priority: j.Priority,
		Status: j.Status, CreatedAt: j.CreatedAt.UTC(),
	}
	if !j.ExpiresAt.IsZero() {
		t := j.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	return out
}

func (a *api) create(w http.ResponseWriter, r *http.Request, customer string) {
	var body struct {
		Name             string              `json:"name"`
		Type             job.Kind            `json:"type"`
		Question         map[string]string   `json:"question"`
		Classes          []string            `json:"classes"`
		ClassNames       map[string][]string `json:"class_names"`
		ItemLang         *string             `json:"item_lang"`   // nil: none; "" is refused
		MinAnswers       *int                `json:"min_answers"` // nil: the default; 0 is refused
		MaxAnswers       *int                `json:"max_answers"`
		ConfidenceTarget *float64            `json:"confidence_target"`
		Priority         *int                `json:"priority"`
		ExpiresAt        *time.Time          `json:"expires_at"`
	}
	if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	in := job.NewJob{
		Name: body.Name, Kind: body.Type, Question: body.Question, Classes: body.Classes, ClassNames: body.ClassNames,
		ItemLang: body.ItemLang, MinAnswers: body.MinAnswers, MaxAnswers: body.MaxAnswers, Target: body.ConfidenceTarget, Priority: body.Priority,
		ExpiresAt: body.ExpiresAt,
	}
	var j job.Job
	var err error
	replayed := false
	if key, ok := r.Header[idempotencyKey]; ok {
		// A repeated header could name two keys: refuse it rather than pick one.
		if len(key) != 1 || !job.ValidIdempotencyKey(key[0]) {
			web.WriteError(w, r, web.Errorf(http.StatusBadRequest, web.CodeBadRequest, "Idempotency-Key must be one header of 1-255 printable ASCII characters without spaces"))
			return
		}
		j, replayed, err = a.jobs.CreateOnce(r.Context(), customer, key[0], in)
	} else {
		j, err = a.jobs.Create(r.Context(), customer, in)
	}
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeInvalidJob))
		return
	}
	if replayed {
		// A retry: the answer the first request got (as the job is now), marked so.
		w.Header().Set("Idempotent-Replayed", "true")
		web.Logger(r.Context()).InfoContext(r.Context(), "job create replayed", "customer_id", customer, "job_id", j.ID)
	} else {
		web.Logger(r.Context()).InfoContext(r.Context(), "job created", "customer_id", customer, "job_id", j.ID, "type", j.Kind)
	}
	web.WriteJSON(w, http.StatusCreated, toJobJSON(j))
}

// idempotencyKey is the header that makes a create safe to send again (canonical form).
const idempotencyKey = "Idempotency-Key"

func (a *api) list(w http.ResponseWriter, r *http.Request, customer string) {
	limit, ok := pageLimit(w, r, job.MaxJobPage)
	if !ok {
		return
	}
	page, err := a.jobs.List(r.Context(), customer, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		web.WriteError(w, r, domainError(err, web.CodeBadRequest))
		return
	}
	out := struct {
		Jobs       []jobJSON `json:"jobs"`
		NextCursor *string   `json:"next_cursor"`
	}{Jobs: make([]jobJSON, len(page.Jobs))}
	for i, j := range page.Jobs {
		out.Jobs[i] = toJobJSON(j)
	}
	if page.Next != "" {
		out.NextCursor = &page.Next
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// pageLimit reads a listing's limit parameter (0 when absent: the service's default), or
// answers 400 and reports false.
func pageLimit(w http.ResponseWriter, r *http.Request, most int) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n == 0 { // 0 would mean "the default" to the service, not what was asked
		web.WriteError(w, r, web.Errorf(http.StatusBadRequest, web.CodeBadRequest, "limit must be a number from 1 to %d", most))
		return 0, false
	}
	return n, true
}

func (a *api) get(w http.ResponseWriter, r *http.Request, customer string) {
	j, err := a.jobs.Get(r.Context(), customer, r.PathValue("id"))
	if err != nil {
		web.WriteError(w, r, domainError(err, web.CodeBadRequest))
		return
	}
	web.WriteJSON(w, http.StatusOK, toJobJSON(j))
}

func (a *api) pause(w http.ResponseWriter, r *http.Request, customer string) {
	a.status(w, r, customer, a.jobs.Pause)
}

func (a *api) resume(w http.ResponseWriter, r *http.Request, customer string) {
	a.status(w, r, customer, a.jobs.Resume)
}

func (a *api) status(w http.ResponseWriter, r *http.Request, customer string, change func(context.Context, string, string) (job.Job, error)) {
	if !web.NoBody(w, r, MaxBody) {
		return
	}
	j, err := change(r.Context(), customer, r.PathValue("id"))
	if err != nil {
		web.WriteError(w, r, domainError(err, web.CodeBadRequest))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "job status set", "customer_id", customer, "job_id", j.ID, "status", j.Status)
	web.WriteJSON(w, http.StatusOK, toJobJSON(j))
}

func (a *api) delete(w http.ResponseWriter, r *http.Request, customer string) {
	if !web.NoBody(w, r, MaxBody) {
		return
	}
	id := r.PathValue("id")
	d, err := a.jobs.Delete(r.Context(), customer, id)
	if err != nil {
		web.WriteError(w, r, domainError(err, web.CodeBadRequest))
		return
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "job deletion step", "customer_id", customer, "job_id", id,
		"done", d.Done, "items", d.Items, "objects", d.Objects)
	status := http.StatusAccepted // more to delete: call again
	if d.Done {
		status = http.StatusOK
	}
	web.WriteJSON(w, status, struct {
		ID             string `json:"id"`
		Done           bool   `json:"done"`
		ItemsRemoved   int    `json:"items_removed"`
		ObjectsRemoved int    `json:"objects_removed"`
	}{id, d.Done, d.Items, d.Objects})
}

// itemJSON is an item as the customer API shows it.
type itemJSON struct {
	ID         string         `json:"id"`
	Status     job.ItemStatus `json:"status"`
	Text       string         `json:"text,omitempty"`
	Image      *imageJSON     `json:"image,omitempty"`
	Gold       string         `json:"gold,omitempty"`
	Holdout    bool           `json:"holdout,omitempty"`
	Answers    int            `json:"answers"`
	Label      *string        `json:"label"`
	Confidence *float64       `json:"confidence"`
	CreatedAt  *time.Time     `json:"created_at,omitempty"`
	ExpiresAt  *time.Time     `json:"expires_at,omitempty"`
	Upload     *uploadJSON    `json:"upload,omitempty"`
}

type imageJSON struct {
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

type uploadJSON struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

func toItemJSON(e job.Entry) itemJSON {
	out := itemJSON{ID: e.ID, Status: e.Status, Text: e.Text, Gold: e.Truth(), Holdout: e.Holdout != "", Answers: e.AnswerCount}
	if e.MediaKey != "" {
		out.Image = &imageJSON{ContentType: e.ContentType, Size: e.Size}
	}
	if e.Label != "" {
		label, conf := e.Label, e.Confidence
		out.Label, out.Confidence = &label, &conf
	}
	if !e.CreatedAt.IsZero() {
		t := e.CreatedAt.UTC()
		out.CreatedAt = &t
	}
	if !e.ExpiresAt.IsZero() {
		t := e.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	return out
}

func toUploadJSON(u *job.Upload) *uploadJSON {
	if u == nil {
		return nil
	}
	return &uploadJSON{Method: http.MethodPut, URL: u.URL, Headers: u.Headers, ExpiresAt: u.ExpiresAt.UTC()}
}

func (a *api) addItems(w http.ResponseWriter, r *http.Request, customer string) {
	var body struct {
		Items []struct {
			ID      string     `json:"id"`
			Text    string     `json:"text"`
			Image   *imageJSON `json:"image"`
			Gold    string     `json:"gold"`
			Holdout bool       `json:"holdout"`
		} `json:"items"`
	}
	if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	items := make([]job.NewItem, len(body.Items))
	for i, it := range body.Items {
		items[i] = job.NewItem{ID: it.ID, Text: it.Text, Gold: it.Gold, Holdout: it.Holdout}
		if it.Image != nil {
			items[i].Image = &job.ImageUpload{ContentType: it.Image.ContentType, Size: it.Image.Size}
		}
	}
	jobID := r.PathValue("id")
	added, err := a.jobs.AddItems(r.Context(), customer, jobID, items)
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeInvalidItems))
		return
	}
	out := struct {
		Items []itemJSON `json:"items"`
	}{Items: make([]itemJSON, len(added))}
	for i, ad := range added {
		out.Items[i] = toItemJSON(ad.Entry)
		out.Items[i].Upload = toUploadJSON(ad.Upload)
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "items added", "customer_id", customer, "job_id", jobID, "items", len(added))
	web.WriteJSON(w, http.StatusCreated, out)
}

func (a *api) commit(w http.ResponseWriter, r *http.Request, customer string) {
	var body struct {
		Items []string `json:"items"`
	}
	if err := web.DecodeJSON(r, MaxBody, &body); err != nil {
		web.WriteError(w, r, err)
		return
	}
	jobID := r.PathValue("id")
	res, err := a.jobs.Commit(r.Context(), customer, jobID, body.Items)
	if err != nil {
		web.WriteError(w, r, domainError(err, CodeInvalidItems))
		return
	}
	type problem struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	type committed struct {
		ID     string         `json:"id"`
		Status job.ItemStatus `json:"status,omitempty"`
		Error  *problem       `json:"error,omitempty"`
		Upload *uploadJSON    `json:"upload,omitempty"` // not_uploaded: a fresh link
	}
	out := struct {
		Items []committed `json:"items"`
	}{Items: make([]committed, len(res))}
	rejected := 0
	for i, c := range res {
		out.Items[i] = committed{ID: c.ID, Status: c.Status, Upload: toUploadJSON(c.Upload)}
		switch {
		case c.Err == nil:
		case errors.Is(c.Err, job.ErrNotFound):
			out.Items[i].Error = &problem{CodeItemNotFound, "no such item (or its upload expired): add it again"}
		case errors.Is(c.Err, job.ErrNotUploaded):
			out.Items[i].Error = &problem{CodeNotUploaded, "nothing uploaded yet: PUT the image to the upload URL (a fresh one is in upload), then commit again"}
		case errors.Is(c.Err, job.ErrNotImage):
			rejected++
			out.Items[i].Error = &problem{CodeNotAnImage, strings.TrimPrefix(c.Err.Error(), job.ErrNotImage.Error()+": ") + "; the item was removed"}
		default:
			web.WriteError(w, r, c.Err)
			return
		}
	}
	web.Logger(r.Context()).InfoContext(r.Context(), "uploads committed", "customer_id", customer, "job_id", jobID, "items", len(res), "rejected", rejected)
	web.WriteJSON(w, http.StatusOK, out)
}

func (a *api) listItems(w http.ResponseWriter, r *http.Request, customer string) {
	limit, ok := pageLimit(w, r, job.MaxPage)
	if !ok {
		return
	}
	page, err := a.jobs.Items(r.Context(), customer, r.PathValue("id"), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		web.WriteError(w, r, domainError(err, web.CodeBadRequest))
		return
	}
	out := struct {
		Items      []itemJSON `json:"items"`
		NextCursor *string    `json:"next_cursor"`
	}{Items: make([]itemJSON, len(page.Items))}
	for i, e := range page.Items {
		out.Items[i] = toItemJSON(e)
	}
	if page.Next != "" {
		out.NextCursor = &page.Next
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func (a *api) progress(w http.ResponseWriter, r *http.Request, customer string) {
	j, p, err := a.jobs.Progress(r.Context(), customer, r.PathValue("id"))
	if err != nil {
		web.WriteError(w, r, domainError(err, web.CodeBadRequest))
		return
	}
	type items struct {
		Pending int `json:"pending"`
		Open    int `json:"open"`
		Done    int `json:"done"`
	}
	type gold struct {
		Items         int      `json:"items"`
		Holdout       int      `json:"holdout"`
		HoldoutScored int      `json:"holdout_scored"`
		Accuracy      *float64 `json:"accuracy"`
	}
	out := struct {
		JobID   string     `json:"job_id"`
		Status  job.Status `json:"status"`
		Items   items      `json:"items"`
		Answers int        `json:"answers"`
		Gold    gold       `json:"gold"`
	}{
		JobID: j.ID, Status: j.Status, Answers: p.Answers,
		Items: items{Pending: p.Pending, Open: p.Open, Done: p.Done},
		Gold:  gold{Items: p.Gold, Holdout: p.Holdout, HoldoutScored: p.HoldoutScored},
	}
	if acc, ok := p.Accuracy(); ok {
		out.Gold.Accuracy = &acc
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// domainError maps job errors to the documented status and code; invalidCode names the
// validation error of the route. Anything else is an internal error (logged, not shown).
func domainError(err error, invalidCode string) error {
	switch {
	case errors.Is(err, job.ErrNotFound):
		return &web.Error{Status: http.StatusNotFound, Code: CodeJobNotFound, Message: "no such job", Err: err}
	case errors.Is(err, job.ErrInvalid):
		msg := strings.Replace(err.Error(), job.ErrInvalid.Error()+": ", "", 1)
		return &web.Error{Status: http.StatusBadRequest, Code: invalidCode, Message: msg, Err: err}
	case errors.Is(err, job.ErrKeyReused):
		msg := strings.Replace(err.Error(), job.ErrKeyReused.Error()+": ", "", 1)
		return &web.Error{Status: http.StatusConflict, Code: CodeKeyReused, Message: "this Idempotency-Key was used before: " + msg, Err: err}
	case errors.Is(err, job.ErrDeleting):
		return &web.Error{Status: http.StatusConflict, Code: CodeJobDeleting, Message: "the job is being deleted: repeat DELETE until it is gone", Err: err}
	case errors.Is(err, job.ErrConflict) && invalidCode == CodeInvalidItems:
		return &web.Error{Status: http.StatusConflict, Code: CodeItemExists, Message: "an item id of the batch exists already in this job; nothing was added", Err: err}
	case errors.Is(err, job.ErrConflict):
		return &web.Error{Status: http.StatusConflict, Code: web.CodeConflict, Message: "a concurrent change won; retry", Err: err}
	}
	return err
}
