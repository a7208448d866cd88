package privacy

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
)

// The access package: everything held about the subject, as records of one shape (store,
// kind, id, fields) in JSON and in CSV (one row per field). Each access executor writes
// its records as numbered parts under access/<request>/parts/; the package executor joins
// them into access/<request>/package.json and package.csv and deletes the parts. The
// privacy bucket's lifecycle rule deletes the package PackageKeepDays after it is made.

// PackageFormat is a format of the access package.
type PackageFormat string

const (
	PackageJSON PackageFormat = "json"
	PackageCSV  PackageFormat = "csv"
)

// PackageFormats lists the formats the package is written in.
var PackageFormats = []PackageFormat{PackageJSON, PackageCSV}

// Package retention and links.
const (
	// PackageKeepDays is how long the package stays downloadable: the privacy bucket's
	// lifecycle rule (schema.BucketPrivacy.ExpireDays) deletes it then.
	PackageKeepDays = 30
	// PackageLinkTTL is how long a download link works; asking again gives a fresh one.
	PackageLinkTTL = 15 * time.Minute
	// PackageVersion names the package's format.
	PackageVersion = "crowdgate-access-package/1"
	// PackageItemBatch is how many items of a job one part holds.
	PackageItemBatch = 500
)

// Errors of PackageKeys.
var (
	// ErrNoPackage: the request is not an access request.
	ErrNoPackage = errors.New("privacy: only access requests have a package")
	// ErrPackageNotReady: the request is not carried out yet.
	ErrPackageNotReady = errors.New("privacy: the package is not ready")
	// ErrPackageExpired: the package was deleted after PackageKeepDays.
	ErrPackageExpired = errors.New("privacy: the package has expired")
	// ErrNoFile: Files.Get found no such object.
	ErrNoFile = errors.New("privacy: no such file")
)

// PackageKey is the object key of a request's package in one format.
func PackageKey(requestID string, f PackageFormat) string {
	return accessPrefix(requestID) + "package." + string(f)
}

// PackageFilename is the name a download of the package is saved under
// ("crowdgate-access-pr_….json"): it says what the file is and whose request, where the
// key's own "package.json" would say neither and collide with the next package.
func PackageFilename(requestID string, f PackageFormat) string {
	return "crowdgate-access-" + requestID + "." + string(f)
}

// ContentType is the package file's media type, stored with it and sent with every
// download. The CSV is UTF-8 without a byte-order mark, as customer exports.
func (f PackageFormat) ContentType() string {
	if f == PackageCSV {
		return "text/csv; charset=utf-8"
	}
	return "application/json"
}

func partKey(requestID, executor string, n int) string {
	return fmt.Sprintf("%sparts/%s/%05d.json", accessPrefix(requestID), executor, n)
}

// PackageUntil is when the package of a completed access request is deleted.
func PackageUntil(r Request) time.Time { return r.ClosedAt.AddDate(0, 0, PackageKeepDays) }

// PackageKeys returns where a request's package lies, once it may be offered: the
// request is a completed access request and the package has not expired at now.
func PackageKeys(r Request, now time.Time) (map[PackageFormat]string, error) {
	switch {
	case r.Type != TypeAccess:
		return nil, ErrNoPackage
	case r.Status != StatusCompleted:
		return nil, ErrPackageNotReady
	case !now.Before(PackageUntil(r)):
		return nil, ErrPackageExpired
	}
	out := map[PackageFormat]string{}
	for _, f := range PackageFormats {
		out[f] = PackageKey(r.ID, f)
	}
	return out, nil
}

// Record is one record of the access package.
type Record struct {
	Store  string            `json:"store"` // table or bucket (schema names)
	Kind   string            `json:"kind"`
	ID     string            `json:"id"`
	Fields map[string]string `json:"fields"`
}

// Stores as the package names them.
const (
	storeAccounts = "accounts"
	storeLabels   = "labels"
	storePrivacy  = "privacy"
)

// Package is the access package's JSON form (the records arrive part by part).
type Package struct {
	Format    string    `json:"format"`
	Request   string    `json:"request_id"`
	Generated time.Time `json:"generated_at"`
	// Notes say what is not in the records and why.
	Notes   []string `json:"notes"`
	Records []Record `json:"records"`
}

// PackageNotes explain the package to its reader.
var PackageNotes = []string{
	"Every record crowdgate holds about your integrator and customer accounts under the address you verified is listed: profile, sites, API keys, labeling jobs with their items, exports, disclosures of risk information to your accounts, and your privacy requests.",
	"Site secrets and API keys are stored only as SHA-256 hashes: the package says that one exists and when it changed, not the hash.",
	"Uploaded images are listed by their object key in the media bucket (the files you uploaded); export files by their key in the exports bucket, downloadable through GET /v1/exports/{id} while they exist (7 days).",
	"Visitors of your sites are not you: their risk counters (keyed by truncated or hashed network, kept at most 24 hours), challenges (5 minutes) and pass tokens (120 seconds) are not listed. See GET /v1/privacy/end-user for what crowdgate processes about visitors.",
	"Behavioural signals (mouse, keys, touch) are never stored. Answers of visitors to your labeling jobs appear only as each item's label, confidence and answer count: no answerer can be named.",
	"Accessibility sign-ups, tokens and their rate-limit counters under the address are listed with when they were made and expire; they are stored only under keyed or SHA-256 hashes, which the package does not show, and no answer is ever linked to them.",
	"Whether our mail provider keeps the address on its suppression list (after a bounce or a complaint, so that no more mail is sent to it) is listed under mail_suppression, with the reason and since when.",
	"This package is deleted 30 days after it was made; download links work 15 minutes, and asking again gives new ones.",
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// compact drops empty fields.
func compact(m map[string]string) map[string]string {
	maps.DeleteFunc(m, func(_, v string) bool { return v == "" })
	return m
}

func choiceFields(m map[string]string, c account.Choices) map[string]string {
	if c.OptOutSale {
		m["opted_out_of_sale_and_sharing"] = "yes"
	}
	if c.LimitSensitive {
		m["limited_use_of_sensitive_information"] = "yes"
	}
	return m
}

// writePart stores one part of an executor's records and counts them.
func (d ExecDeps) writePart(ctx context.Context, r Request, executor string, recs []Record, p *progress) error {
	if recs == nil {
		recs = []Record{}
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return fmt.Errorf("encode package part: %w", err)
	}
	if err := d.Files.Put(ctx, partKey(r.ID, executor, p.Parts), "application/json", b); err != nil {
		return fmt.Errorf("write package part: %w", err)
	}
	p.Parts++
	for _, rec := range recs {
		p.add(rec.Kind, 1)
	}
	return nil
}

// accessAccounts lists profiles, sites and API keys.
func (d ExecDeps) accessAccounts(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
	var recs []Record
	for _, id := range h.Integrators {
		it, err := d.Accounts.GetIntegrator(ctx, id)
		if errors.Is(err, account.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("read integrator: %w", err)
		}
		recs = append(recs, Record{Store: storeAccounts, Kind: KindIntegrator, ID: it.ID, Fields: choiceFields(compact(map[string]string{
			"name": it.Name, "email": it.Email, "country": it.Country, "created_at": ts(it.CreatedAt),
		}), it.Choices)})
		sites, err := d.Accounts.SitesOf(ctx, id)
		if err != nil {
			return false, fmt.Errorf("list sites: %w", err)
		}
		for _, s := range sites {
			recs = append(recs, Record{Store: storeAccounts, Kind: KindSite, ID: s.Sitekey, Fields: choiceFields(compact(map[string]string{
				"integrator_id": s.IntegratorID, "name": s.Name, "hostnames": strings.Join(s.Hostnames, " "),
				"require_remoteip": yesNo(s.RequireRemoteIP), "created_at": ts(s.CreatedAt),
				"secret": "set (stored only as a SHA-256 hash)", "secret_changed_at": ts(s.SecretRotatedAt),
			}), s.Choices)})
		}
		ikeys, err := d.Accounts.ListIntegratorKeys(ctx, id)
		if err != nil {
			return false, fmt.Errorf("list integrator API keys: %w", err)
		}
		for _, k := range ikeys {
			recs = append(recs, Record{Store: storeAccounts, Kind: KindAPIKey, ID: k.ID, Fields: compact(map[string]string{
				"integrator_id": k.IntegratorID, "name": k.Name, "created_at": ts(k.CreatedAt), "revoked_at": ts(k.RevokedAt),
				"key": "stored only as a SHA-256 hash",
			})})
		}
	}
	for _, id := range h.Customers {
		c, err := d.Accounts.GetCustomer(ctx, id)
		if errors.Is(err, account.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("read customer: %w", err)
		}
		recs = append(recs, Record{Store: storeAccounts, Kind: KindCustomer, ID: c.ID, Fields: choiceFields(compact(map[string]string{
			"name": c.Name, "email": c.Email, "country": c.Country, "created_at": ts(c.CreatedAt),
		}), c.Choices)})
		keys, err := d.Accounts.ListAPIKeys(ctx, id)
		if err != nil {
			return false, fmt.Errorf("list API keys: %w", err)
		}
		for _, k := range keys {
			recs = append(recs, Record{Store: storeAccounts, Kind: KindAPIKey, ID: k.ID, Fields: compact(map[string]string{
				"customer_id": k.CustomerID, "name": k.Name, "created_at": ts(k.CreatedAt), "revoked_at": ts(k.RevokedAt),
				"key": "stored only as a SHA-256 hash",
			})})
		}
	}
	return true, d.writePart(ctx, r, ExecAccounts, recs, p)
}

// listedJob is a job with its place in allJobs' order.
type listedJob struct {
	job.Job
	key string
}

// allJobs lists the customers' jobs in a stable order (customer, then oldest first), each
// with a key that sorts in that order.
func (d ExecDeps) allJobs(ctx context.Context, h Holders) ([]listedJob, error) {
	var out []listedJob
	for ci, c := range h.Customers {
		jobs, err := d.Labels.ListJobs(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		for _, j := range jobs {
			out = append(out, listedJob{j, fmt.Sprintf("%06d|%s|%s", ci, j.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000"), j.ID)})
		}
	}
	return out, nil
}

// accessJobs writes one part per step: a job (on its first page) and up to
// PackageItemBatch of its items. The jobs are listed again at every step, and a job
// deleted meanwhile shifts the list, so the walk goes by the job being written and the
// key of the last one written whole, not by position.
func (d ExecDeps) accessJobs(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
	jobs, err := d.allJobs(ctx, h)
	if err != nil {
		return false, err
	}
	at := -1
	switch {
	case p.Job != "":
		if at = slices.IndexFunc(jobs, func(j listedJob) bool { return j.ID == p.Job }); at < 0 {
			p.Job, p.After = "", "" // deleted while being written: on to the next
		}
	case p.Last == "" && p.Pos > 0 && p.Pos < len(jobs):
		at = p.Pos // a checkpoint from before Job and Last existed
	}
	if at < 0 {
		at = slices.IndexFunc(jobs, func(j listedJob) bool { return j.key > p.Last })
	}
	if at < 0 {
		p.Job, p.After, p.Last = "", "", ""
		return true, nil
	}
	j := jobs[at]
	var recs []Record
	if p.After == "" {
		recs = append(recs, jobRecord(j.Job))
	}
	entries, next, err := d.Labels.ListEntries(ctx, j.ID, p.After, PackageItemBatch)
	if err != nil {
		return false, fmt.Errorf("list items: %w", err)
	}
	for _, e := range entries {
		recs = append(recs, itemRecord(j.ID, e))
	}
	if err := d.writePart(ctx, r, ExecJobs, recs, p); err != nil {
		return false, err
	}
	p.Pos = 0
	if next != "" {
		p.Job, p.After = j.ID, next
		return false, nil
	}
	p.Job, p.After, p.Last = "", "", j.key
	if at == len(jobs)-1 {
		// The finished checkpoint stays on the request for its 27 months: no job ids.
		p.Last = ""
		return true, nil
	}
	return false, nil
}

func jobRecord(j job.Job) Record {
	f := compact(map[string]string{
		"customer_id": j.CustomerID, "name": j.Name, "kind": string(j.Kind), "classes": strings.Join(j.Classes, " | "),
		"status": string(j.Status), "priority": strconv.Itoa(j.Priority), "min_answers": strconv.Itoa(j.MinAnswers),
		"max_answers": strconv.Itoa(j.MaxAnswers), "target": strconv.FormatFloat(j.Target, 'f', -1, 64),
		"created_at": ts(j.CreatedAt), "expires_at": ts(j.ExpiresAt), "item_lang": j.ItemLang,
	})
	for loc, q := range j.Question {
		f["question_"+loc] = q
	}
	for loc, names := range j.ClassNames {
		f["class_names_"+loc] = strings.Join(names, " | ")
	}
	return Record{Store: storeLabels, Kind: KindJob, ID: j.ID, Fields: f}
}

func itemRecord(jobID string, e job.Entry) Record {
	f := compact(map[string]string{
		"job_id": jobID, "text": e.Text, "media_key": e.MediaKey, "content_type": e.ContentType,
		"gold_label": e.GoldLabel, "holdout_label": e.Holdout, "status": string(e.Status),
		"label": e.Label, "answers": strconv.Itoa(e.AnswerCount), "created_at": ts(e.CreatedAt),
	})
	if e.Size > 0 {
		f["size"] = strconv.FormatInt(e.Size, 10)
	}
	if e.Label != "" {
		f["confidence"] = strconv.FormatFloat(e.Confidence, 'f', 4, 64)
	}
	return Record{Store: storeLabels, Kind: KindItem, ID: e.ID, Fields: f}
}

// accessExports lists the customers' exports.
func (d ExecDeps) accessExports(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
	var recs []Record
	for _, c := range h.Customers {
		exps, err := d.Labels.ExportsOf(ctx, c)
		if err != nil {
			return false, fmt.Errorf("list exports: %w", err)
		}
		for _, e := range exps {
			recs = append(recs, exportRecord(e))
		}
	}
	return true, d.writePart(ctx, r, ExecExports, recs, p)
}

func exportRecord(e export.Export) Record {
	return Record{Store: storeLabels, Kind: KindExport, ID: e.ID, Fields: compact(map[string]string{
		"customer_id": e.CustomerID, "job_id": e.JobID, "format": string(e.Format), "status": string(e.Status),
		"rows": strconv.FormatInt(e.Rows, 10), "file": e.Key, "error": e.Error,
		"created_at": ts(e.CreatedAt), "completed_at": ts(e.CompletedAt), "expires_at": ts(e.ExpiresAt),
	})}
}

// accessDisclosures lists, page by page, what risk information was disclosed to the
// subject's integrator accounts.
func (d ExecDeps) accessDisclosures(ctx context.Context, r Request, h Holders, p *progress) (bool, error) {
	if p.Pos >= len(h.Integrators) {
		return true, nil
	}
	page, next, err := d.Log.DisclosuresTo(ctx, h.Integrators[p.Pos], p.After, Batch*10)
	if err != nil {
		return false, fmt.Errorf("list disclosures: %w", err)
	}
	recs := make([]Record, 0, len(page))
	for _, x := range page {
		recs = append(recs, Record{Store: storePrivacy, Kind: KindDisclosure, ID: x.ID, Fields: compact(map[string]string{
			"recipient_integrator_id": x.Recipient, "sitekey": x.Sitekey, "what": x.Kind, "about": x.Subject,
			"disclosed_at": ts(x.At),
		})})
	}
	if err := d.writePart(ctx, r, ExecDisclosures, recs, p); err != nil {
		return false, err
	}
	if next == "" {
		p.Pos, p.After = p.Pos+1, ""
	} else {
		p.After = next
	}
	return p.Pos >= len(h.Integrators), nil
}

// accessRequests lists the subject's privacy requests (this one included).
func (d ExecDeps) accessRequests(ctx context.Context, r Request, _ Holders, p *progress) (bool, error) {
	reqs, err := d.Log.RequestsOf(ctx, r.SubjectHash)
	if err != nil {
		return false, fmt.Errorf("list the subject's requests: %w", err)
	}
	if !slices.ContainsFunc(reqs, func(o Request) bool { return o.ID == r.ID }) {
		reqs = append(reqs, r)
	}
	slices.SortFunc(reqs, func(a, b Request) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	recs := make([]Record, 0, len(reqs))
	for _, o := range reqs {
		recs = append(recs, Record{Store: storePrivacy, Kind: KindPrivacyRequest, ID: o.ID, Fields: compact(map[string]string{
			"type": string(o.Type), "regulation": string(o.Regulation), "status": string(o.Status),
			"received_at": ts(o.ReceivedAt), "verified_at": ts(o.VerifiedAt), "approved_at": ts(o.ApprovedAt),
			"closed_at": ts(o.ClosedAt), "deny_reason": string(o.DenyReason), "deny_note": o.DenyNote,
			"details": o.Details, "kept_until": ts(o.ExpiresAt()),
		})})
	}
	return true, d.writePart(ctx, r, ExecRequests, recs, p)
}

// accessParts are the executors whose parts make the package, in package order.
var accessParts = []string{ExecAccounts, ExecJobs, ExecExports, ExecDisclosures, ExecRequests, ExecAccessibility, ExecSuppression}

// assemblePackage joins the parts into the package files (phase 0), then deletes the
// parts (phase 1). The files are written whole before the parts go, so a rerun of phase 0
// after a crash writes the same files again.
func (d ExecDeps) assemblePackage(ctx context.Context, r Request, _ Holders, p *progress) (bool, error) {
	if p.Phase == 1 {
		_, more, err := d.Files.DeletePrefix(ctx, accessPrefix(r.ID)+"parts/", 1000)
		if err != nil {
			return false, fmt.Errorf("delete package parts: %w", err)
		}
		return !more, nil
	}
	jsonW, err := d.Files.Create(ctx, PackageKey(r.ID, PackageJSON), PackageJSON.ContentType())
	if err != nil {
		return false, fmt.Errorf("create package: %w", err)
	}
	csvW, err := d.Files.Create(ctx, PackageKey(r.ID, PackageCSV), PackageCSV.ContentType())
	if err != nil {
		_ = jsonW.Abort(context.WithoutCancel(ctx))
		return false, fmt.Errorf("create package: %w", err)
	}
	n, err := d.writePackage(ctx, r, jsonW, csvW)
	if err == nil {
		err = errors.Join(jsonW.Close(), csvW.Close())
	}
	if err != nil {
		_ = jsonW.Abort(context.WithoutCancel(ctx))
		_ = csvW.Abort(context.WithoutCancel(ctx))
		return false, err
	}
	p.add("record", n)
	p.add("file", len(PackageFormats))
	p.Phase = 1
	return false, nil
}

// writePackage streams the parts into both files, one part in memory at a time.
func (d ExecDeps) writePackage(ctx context.Context, r Request, jsonW, csvW FileWriter) (int, error) {
	head, err := json.Marshal(Package{Format: PackageVersion, Request: r.ID, Generated: d.Now().UTC().Truncate(time.Second), Notes: PackageNotes})
	if err != nil {
		return 0, fmt.Errorf("encode package: %w", err)
	}
	// Everything but the closing "[]}" of the empty records list; records follow.
	if _, err := jsonW.Write(append(bytes.TrimSuffix(head, []byte("null}")), '[')); err != nil {
		return 0, fmt.Errorf("write package: %w", err)
	}
	cw := csv.NewWriter(csvW)
	if err := cw.Write([]string{"store", "kind", "id", "field", "value"}); err != nil {
		return 0, fmt.Errorf("write package: %w", err)
	}
	n := 0
	for _, ex := range accessParts {
		cp, err := parseProgress(r.Progress[ex].Cursor)
		if err != nil {
			return n, err
		}
		for i := range cp.Parts {
			raw, err := d.Files.Get(ctx, partKey(r.ID, ex, i))
			if errors.Is(err, ErrNoFile) {
				// An erasure of the subject deleted it (its requests step takes the parts of
				// every other request): its records are erased, and a retry finds it no more.
				continue
			}
			if err != nil {
				return n, fmt.Errorf("read package part: %w", err)
			}
			var recs []Record
			if err := json.Unmarshal(raw, &recs); err != nil {
				return n, fmt.Errorf("decode package part: %w", err)
			}
			for _, rec := range recs {
				b, err := json.Marshal(rec)
				if err != nil {
					return n, fmt.Errorf("encode record: %w", err)
				}
				if n > 0 {
					b = append([]byte{','}, b...)
				}
				if _, err := jsonW.Write(b); err != nil {
					return n, fmt.Errorf("write package: %w", err)
				}
				for _, k := range slices.Sorted(maps.Keys(rec.Fields)) {
					// The subject opens this file in a spreadsheet, and ids and values may have been
					// typed by someone else; store, kind and field names are crowdgate's own.
					if err := cw.Write([]string{rec.Store, rec.Kind, export.AsText(rec.ID), k, export.AsText(rec.Fields[k])}); err != nil {
						return n, fmt.Errorf("write package: %w", err)
					}
				}
				n++
			}
		}
	}
	if _, err := jsonW.Write([]byte("]}")); err != nil {
		return n, fmt.Errorf("write package: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("write package: %w", err)
	}
	return n, nil
}
