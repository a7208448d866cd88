package privacy_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
)

// The executors against an in-memory world: Jane holds an integrator account (two sites)
// and a customer account (two API keys, two jobs with items, uploads, consensus records
// and an export); risk information was disclosed to her integrator; she made an access
// request before. Bob holds the same kinds of records and must never be touched.

const (
	janeMail   = "jane@example.com"
	janeInt    = "11111111-1111-4111-8111-111111111111"
	janeCust   = "22222222-2222-4222-8222-222222222222"
	bobMail    = "bob@example.org"
	bobInt     = "33333333-3333-4333-8333-333333333333"
	bobCust    = "44444444-4444-4444-8444-444444444444"
	janeSecret = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // a site secret hash
	janeKeyH   = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" // an API key hash
)

type world struct {
	*fixture
	h                     *privacytest.Holdings
	media, exports, files *privacytest.Bucket
	deps                  privacy.ExecDeps
	janeJobs, bobJobs     []string
	janeItems             int
	earlierAccess         string
}

func newWorld(t *testing.T, janeItemsPerJob int) *world {
	t.Helper()
	f := &fixture{mail: &privacytest.Mailer{}, queue: &privacytest.Queue{}, clock: privacytest.NewClock(t0)}
	f.store = &privacytest.Store{Now: f.clock.Now}
	w := &world{fixture: f, media: &privacytest.Bucket{}, exports: &privacytest.Bucket{}, files: &privacytest.Bucket{}}
	w.h = privacytest.NewHoldings(f.store)
	svc, err := privacy.NewService(privacy.Deps{
		Store: f.store, Mailer: f.mail, Queue: f.queue, Clock: f.clock, Key: key, Accounts: w.h,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	w.deps = privacy.ExecDeps{Accounts: w.h, Labels: w.h, Log: w.h, Media: w.media, Exports: w.exports, Files: w.files, Now: f.clock.Now}

	for _, p := range []struct {
		mail, integrator, customer, name, secret, keyHash string
		items                                             int
		jobs                                              *[]string
	}{
		{janeMail, janeInt, janeCust, "Jane Doe", janeSecret, janeKeyH, janeItemsPerJob, &w.janeJobs},
		{bobMail, bobInt, bobCust, "Bob Roe", strings.Repeat("c", 64), strings.Repeat("d", 64), 3, &w.bobJobs},
	} {
		w.h.Integrators[p.integrator] = account.Integrator{ID: p.integrator, Name: p.name, Email: p.mail, Country: "US", CreatedAt: t0}
		ikid := p.integrator[:4] + "ik01"
		w.h.IntegratorKeys[ikid] = account.IntegratorKey{ID: ikid, IntegratorID: p.integrator, Name: "fraud desk", Hash: p.keyHash[:60] + "ikey", CreatedAt: t0}
		w.h.Customers[p.customer] = account.Customer{ID: p.customer, Name: p.name + " Labs", Email: strings.ToUpper(p.mail), Country: "DE", CreatedAt: t0}
		for i := range 2 {
			sk := fmt.Sprintf("%s-site-%d", p.integrator[:8], i)
			w.h.AddSite(account.Site{Sitekey: sk, IntegratorID: p.integrator, Name: "shop", Hostnames: []string{"shop.example"}, SecretHash: fmt.Sprintf("%s%d", p.secret[:63], i), CreatedAt: t0})
			kid := fmt.Sprintf("%s%08d", p.customer[:8], i)
			w.h.Keys[kid] = account.APIKey{ID: kid, CustomerID: p.customer, Name: "ci", Hash: fmt.Sprintf("%s%d", p.keyHash[:63], i), CreatedAt: t0}
			jobID := fmt.Sprintf("%s-job-%d", p.name[:3], i)
			*p.jobs = append(*p.jobs, jobID)
			w.h.Jobs[jobID] = job.Job{ID: jobID, CustomerID: p.customer, Name: p.name + " dataset", Kind: job.KindBinary, Classes: []string{"yes", "no"},
				Question: map[string]string{"en": "Is it?"}, Status: job.StatusActive, CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
			for n := range p.items {
				id := fmt.Sprintf("it-%04d", n)
				e := job.Entry{Item: job.Item{ID: id, Status: job.ItemOpen}, CreatedAt: t0}
				if n%2 == 0 {
					e.MediaKey, e.ContentType, e.Size = job.MediaKey(jobID, id), "image/png", 100
					_ = w.media.Put(ctx, e.MediaKey, "image/png", []byte("png"))
				} else {
					e.Text = "text of " + p.name
				}
				w.h.AddItems(jobID, e)
			}
			w.h.Consensus[jobID] = 3
			exp := export.Export{ID: fmt.Sprintf("exp_%s%d", p.customer[:4], i), CustomerID: p.customer, JobID: jobID, Format: export.FormatCSV,
				Status: export.StatusDone, Key: export.ObjectKey(jobID, fmt.Sprintf("exp_%s%d", p.customer[:4], i), export.FormatCSV), CreatedAt: t0, ExpiresAt: t0.Add(export.Retention)}
			w.h.Exports[exp.ID] = exp
			_ = w.exports.Put(ctx, exp.Key, "text/csv", []byte("rows"))
		}
		for i := range 3 {
			w.h.Disclosures[p.integrator] = append(w.h.Disclosures[p.integrator], privacy.Disclosure{
				ID: fmt.Sprintf("%s-d%d", p.integrator[:4], i), At: t0, Recipient: p.integrator, Sitekey: p.integrator[:8] + "-site-0",
				Kind: privacy.DisclosureRiskIP, Subject: "203.0.113.0/24",
			})
		}
	}
	w.janeItems = 2 * janeItemsPerJob

	// Jane's earlier access request, completed, with a package in the privacy bucket.
	r, _ := w.verified(t, janeMail, privacy.TypeAccess)
	w.earlierAccess = r.ID
	w.approveAndRun(t, r.ID)
	if got := w.get(t, r.ID); got.Status != privacy.StatusCompleted || len(got.AccountIDs) == 0 {
		t.Fatalf("earlier access request: %+v", got)
	}
	return w
}

func (w *world) approveAndRun(t *testing.T, id string) privacy.Request {
	t.Helper()
	if _, err := w.svc.Approve(ctx, id, operator); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	r, err := w.run(id)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return r
}

func (w *world) run(id string) (privacy.Request, error) {
	r := w.get(nil, id)
	build := func(r privacy.Request) ([]privacy.Executor, error) { return privacy.Executors(r, w.deps) }
	return w.svc.RunJob(ctx, privacy.Job{V: 1, RequestID: id, Type: r.Type}, build)
}

// get is fixture.get that tolerates a nil *testing.T (inside helpers that return errors).
func (w *world) get(t *testing.T, id string) privacy.Request {
	r, _, err := w.svc.Get(ctx, id)
	if err != nil && t != nil {
		t.Fatal(err)
	}
	return r
}

// janeTraces lists what of Jane is left anywhere in the world.
func (w *world) janeTraces() []string {
	var left []string
	if _, ok := w.h.Integrators[janeInt]; ok {
		left = append(left, "integrator")
	}
	if _, ok := w.h.Customers[janeCust]; ok {
		left = append(left, "customer")
	}
	for _, s := range w.h.Sites {
		if s.IntegratorID == janeInt {
			left = append(left, "site "+s.Sitekey)
		}
	}
	for h := range w.h.Secrets {
		if strings.HasPrefix(h, janeSecret[:63]) {
			left = append(left, "secret lookup")
		}
	}
	for _, k := range w.h.Keys {
		if k.CustomerID == janeCust {
			left = append(left, "api key "+k.ID)
		}
	}
	for _, k := range w.h.IntegratorKeys {
		if k.IntegratorID == janeInt {
			left = append(left, "integrator api key "+k.ID)
		}
	}
	for _, id := range w.janeJobs {
		if _, ok := w.h.Jobs[id]; ok {
			left = append(left, "job "+id)
		}
		if n := len(w.h.Items[id]); n > 0 {
			left = append(left, fmt.Sprintf("%d items of %s", n, id))
		}
		if w.h.Consensus[id] > 0 {
			left = append(left, "consensus of "+id)
		}
		if k := w.media.Keys(job.MediaPrefix(id)); len(k) > 0 {
			left = append(left, fmt.Sprintf("%d media objects of %s", len(k), id))
		}
		if k := w.exports.Keys("jobs/" + id + "/"); len(k) > 0 {
			left = append(left, "export files of "+id)
		}
	}
	for _, e := range w.h.Exports {
		if e.CustomerID == janeCust {
			left = append(left, "export "+e.ID)
		}
	}
	if len(w.h.Disclosures[janeInt]) > 0 {
		left = append(left, "disclosures")
	}
	if k := w.files.Keys("access/" + w.earlierAccess + "/"); len(k) > 0 {
		left = append(left, "earlier access package")
	}
	if r := w.get(nil, w.earlierAccess); len(r.AccountIDs) > 0 {
		left = append(left, "account ids on the earlier request")
	}
	return left
}

func (w *world) checkBobUntouched(t *testing.T) {
	t.Helper()
	if _, ok := w.h.Integrators[bobInt]; !ok {
		t.Error("Bob's integrator is gone")
	}
	if _, ok := w.h.Customers[bobCust]; !ok {
		t.Error("Bob's customer account is gone")
	}
	sites, keys := 0, 0
	for _, s := range w.h.Sites {
		if s.IntegratorID == bobInt {
			sites++
		}
	}
	for _, k := range w.h.Keys {
		if k.CustomerID == bobCust && !k.Revoked() {
			keys++
		}
	}
	for _, k := range w.h.IntegratorKeys {
		if k.IntegratorID == bobInt {
			keys++
		}
	}
	if sites != 2 || keys != 3 {
		t.Errorf("Bob has %d sites and %d working keys, want 2 and 3", sites, keys)
	}
	for _, id := range w.bobJobs {
		if _, ok := w.h.Jobs[id]; !ok || len(w.h.Items[id]) != 3 || w.h.Consensus[id] != 3 || len(w.media.Keys(job.MediaPrefix(id))) != 2 {
			t.Errorf("Bob's job %s was touched", id)
		}
	}
	if len(w.h.Disclosures[bobInt]) != 3 {
		t.Error("Bob's disclosures were touched")
	}
}

func TestDeleteErasesEverySubjectRecordAndLeavesOthers(t *testing.T) {
	for _, typ := range []privacy.Type{privacy.TypeDelete, privacy.TypeChildDelete, privacy.TypeWithdrawConsent} {
		t.Run(string(typ), func(t *testing.T) {
			w := newWorld(t, 7)
			r, _ := w.verified(t, "  JANE@example.com ", typ)
			done := w.approveAndRun(t, r.ID)
			if left := w.janeTraces(); len(left) > 0 {
				t.Fatalf("after %s, Jane's data is left: %v", typ, left)
			}
			w.checkBobUntouched(t)
			if done.Status != privacy.StatusCompleted || done.Email != "" || len(done.AccountIDs) != 0 || done.SubjectHash == "" {
				t.Fatalf("the request log keeps more than a hashed record: %+v", done)
			}
			want := privacy.Report{
				privacy.ExecJobs:        {privacy.KindJob: 2, privacy.KindItem: w.janeItems, privacy.KindMediaObject: 8, privacy.KindConsensus: 6},
				privacy.ExecExports:     {privacy.KindExport: 2, privacy.KindExportObject: 2},
				privacy.ExecDisclosures: {privacy.KindDisclosure: 3},
				privacy.ExecRequests:    {privacy.KindPackageObject: 2, privacy.KindRequestScrubbed: 1},
				privacy.ExecAccounts:    {privacy.KindIntegrator: 1, privacy.KindSite: 2, privacy.KindSiteSecret: 2, privacy.KindCustomer: 1, privacy.KindAPIKey: 3},
			}
			if got := privacy.ReportOf(done); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("erasure report\n got %v\nwant %v", got, want)
			}
			_, audit, _ := w.svc.Get(ctx, r.ID)
			var notes []string
			for _, e := range audit {
				if e.Action == privacy.ActionProgress {
					notes = append(notes, e.Note)
				}
			}
			if len(notes) != 5 || !strings.Contains(strings.Join(notes, "|"), "accounts: 9 records (api_key 3, customer 1, integrator 1, site 2, site_secret 2)") {
				t.Errorf("audit notes %q", notes)
			}
			for _, n := range notes {
				for _, leak := range []string{janeInt, janeCust, "Jane", janeMail, "Jan-job"} {
					if strings.Contains(n, leak) {
						t.Errorf("audit note %q names the subject (%s)", n, leak)
					}
				}
			}
			if mails := w.mail.Sent(); !strings.Contains(mails[len(mails)-1].Subject, "is complete") {
				t.Errorf("last mail %q, want the completion notice", mails[len(mails)-1].Subject)
			}
		})
	}
}

// A worker that dies at any point of an erasure leaves a checkpoint; the next delivery
// finishes the job, and the result is the same as an uninterrupted run, report included:
// what a failed step removed is counted, once.
func TestErasureResumesAfterAFailureAtAnyStep(t *testing.T) {
	want := uninterruptedReport(t, privacy.TypeDelete)
	ops := []string{"revoke_api_key", "delete_entries", "delete_prefix", "delete_consensus", "delete_job", "delete", "delete_export",
		"delete_disclosures", "scrub", "delete_sites", "delete_api_keys", "delete_profile"}
	for _, op := range ops {
		for _, nth := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s#%d", op, nth), func(t *testing.T) {
				w := newWorld(t, 3)
				r, _ := w.verified(t, janeMail, privacy.TypeDelete)
				calls := 0
				fail := func(o string) error {
					if o != op {
						return nil
					}
					calls++
					if calls == nth {
						return errors.New("worker killed")
					}
					return nil
				}
				w.h.Fail, w.media.Fail, w.exports.Fail, w.files.Fail = fail, fail, fail, fail
				if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
					t.Fatal(err)
				}
				_, err := w.run(r.ID)
				if calls < nth {
					t.Skipf("%s is called fewer than %d times", op, nth)
				}
				if err == nil {
					t.Fatal("the injected failure did not stop the run")
				}
				if got := w.get(t, r.ID); got.Status != privacy.StatusInProgress {
					t.Fatalf("after the failure the request is %s", got.Status)
				}
				done, err := w.run(r.ID)
				if err != nil || done.Status != privacy.StatusCompleted {
					t.Fatalf("rerun: %+v, %v", done.Status, err)
				}
				if left := w.janeTraces(); len(left) > 0 {
					t.Fatalf("Jane's data left after the rerun: %v", left)
				}
				w.checkBobUntouched(t)
				if got := privacy.ReportOf(done); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("report after the failure and rerun\n got %v\nwant %v (uninterrupted)", got, want)
				}
				again, err := w.run(r.ID)
				if err != nil || again.Version != done.Version {
					t.Fatalf("a redelivered job changed a completed request: %v", err)
				}
			})
		}
	}
}

// uninterruptedReport is the report of a request of type typ by Jane run without a
// failure, in a world as newWorld(t, 3) builds it.
func uninterruptedReport(t *testing.T, typ privacy.Type) privacy.Report {
	t.Helper()
	w := newWorld(t, 3)
	return privacy.ReportOf(w.approveAndRun(t, w.fileReady(t, typ)))
}

// fileReady files a request of type typ by Jane, verified when it needs to be, and
// returns its id.
func (w *world) fileReady(t *testing.T, typ privacy.Type) string {
	t.Helper()
	if typ.NeedsVerification() {
		r, _ := w.verified(t, janeMail, typ)
		return r.ID
	}
	return w.file(t, janeMail, typ).ID
}

type pkg struct {
	Format  string           `json:"format"`
	Request string           `json:"request_id"`
	Made    time.Time        `json:"generated_at"`
	Notes   []string         `json:"notes"`
	Records []privacy.Record `json:"records"`
}

func TestAccessPackageHoldsEverythingAboutTheSubjectButNoSecrets(t *testing.T) {
	// 600 items per job: more than one part per job.
	w := newWorld(t, privacy.PackageItemBatch+100)
	r, _ := w.verified(t, janeMail, privacy.TypeAccess)
	done := w.approveAndRun(t, r.ID)
	raw, ok := w.files.Object(privacy.PackageKey(r.ID, privacy.PackageJSON))
	if !ok {
		t.Fatalf("no package; files: %v", w.files.Keys(""))
	}
	var p pkg
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("package is not JSON of the documented shape: %v", err)
	}
	if p.Format != privacy.PackageVersion || p.Request != r.ID || len(p.Notes) == 0 {
		t.Fatalf("package header %+v", p)
	}
	kinds := map[string]int{}
	for _, rec := range p.Records {
		kinds[rec.Kind]++
	}
	want := map[string]int{
		privacy.KindIntegrator: 1, privacy.KindSite: 2, privacy.KindCustomer: 1, privacy.KindAPIKey: 3, privacy.KindJob: 2,
		privacy.KindItem: w.janeItems, privacy.KindExport: 2, privacy.KindDisclosure: 3, privacy.KindPrivacyRequest: 2,
	}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("records by kind\n got %v\nwant %v", kinds, want)
	}
	for _, rec := range p.Records {
		if rec.Kind == privacy.KindIntegrator && (rec.Fields["email"] != janeMail || rec.Fields["name"] != "Jane Doe") {
			t.Errorf("integrator record %+v", rec)
		}
		if (rec.Kind == privacy.KindJob || rec.Kind == privacy.KindExport) && rec.Fields["customer_id"] != janeCust {
			t.Errorf("%s record of another customer: %+v", rec.Kind, rec)
		}
	}
	for _, leak := range []string{janeSecret[:40], janeKeyH[:40], bobInt, bobCust, "Bob", bobMail} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("package contains %q", leak)
		}
	}
	// The CSV says the same, one row per field.
	rawCSV, ok := w.files.Object(privacy.PackageKey(r.ID, privacy.PackageCSV))
	if !ok {
		t.Fatal("no CSV package")
	}
	rows, err := csv.NewReader(bytes.NewReader(rawCSV)).ReadAll()
	if err != nil {
		t.Fatalf("CSV package: %v", err)
	}
	fields := 0
	for _, rec := range p.Records {
		fields += len(rec.Fields)
	}
	if len(rows) != fields+1 || strings.Join(rows[0], ",") != "store,kind,id,field,value" {
		t.Fatalf("CSV has %d rows (header %v), want %d fields + header", len(rows), rows[0], fields)
	}
	if parts := w.files.Keys("access/" + r.ID + "/parts/"); len(parts) != 0 {
		t.Errorf("parts left behind: %v", parts)
	}
	if len(done.AccountIDs) == 0 || done.Email != "" {
		t.Errorf("completed access request: account ids %v, email %q", done.AccountIDs, done.Email)
	}
	// Nothing was changed.
	if len(w.janeTraces()) < 10 {
		t.Error("an access request removed data")
	}
	keys, err := privacy.PackageKeys(done, t0.Add(24*time.Hour))
	if err != nil || keys[privacy.PackageCSV] != privacy.PackageKey(r.ID, privacy.PackageCSV) {
		t.Fatalf("PackageKeys = %v, %v", keys, err)
	}
}

func TestPackageKeysOfferOnlyCompletedAccessRequestsWithinTheirRetention(t *testing.T) {
	done := privacy.Request{ID: "pr_00000000000000000000000000000001", Type: privacy.TypeAccess, Status: privacy.StatusCompleted, ClosedAt: t0}
	cases := []struct {
		r    privacy.Request
		at   time.Time
		want error
	}{
		{done, t0.AddDate(0, 0, privacy.PackageKeepDays).Add(-time.Second), nil},
		{done, t0.AddDate(0, 0, privacy.PackageKeepDays), privacy.ErrPackageExpired},
		{privacy.Request{Type: privacy.TypeAccess, Status: privacy.StatusInProgress}, t0, privacy.ErrPackageNotReady},
		{privacy.Request{Type: privacy.TypeDelete, Status: privacy.StatusCompleted, ClosedAt: t0}, t0, privacy.ErrNoPackage},
	}
	for i, c := range cases {
		if _, err := privacy.PackageKeys(c.r, c.at); !errors.Is(err, c.want) {
			t.Errorf("case %d: %v, want %v", i, err, c.want)
		}
	}
}

func TestCorrectionRewritesTheNamedFieldsOfEveryProfile(t *testing.T) {
	w := newWorld(t, 1)
	filed, err := w.svc.File(ctx, privacy.FileInput{Email: janeMail, Type: privacy.TypeCorrect, Regulation: privacy.GDPR,
		Corrections: []privacy.Correction{{Field: "name", Value: "Jane Q. Doe"}, {Field: "country", Value: "fr"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.Verify(ctx, filed.ID, w.mail.LastCode(janeMail)); err != nil {
		t.Fatal(err)
	}
	done := w.approveAndRun(t, filed.ID)
	it, c := w.h.Integrators[janeInt], w.h.Customers[janeCust]
	if it.Name != "Jane Q. Doe" || it.Country != "FR" || c.Name != "Jane Q. Doe" || c.Country != "FR" || it.Email != janeMail {
		t.Fatalf("after the correction: integrator %+v, customer %+v", it, c)
	}
	if b := w.h.Integrators[bobInt]; b.Name != "Bob Roe" || b.Country != "US" {
		t.Fatalf("Bob was corrected: %+v", b)
	}
	if len(done.Corrections) != 0 {
		t.Error("the closed request keeps the new values")
	}
	_, audit, _ := w.svc.Get(ctx, filed.ID)
	for _, e := range audit {
		if strings.Contains(e.Note, "Jane") || strings.Contains(e.Note, "FR") || strings.Contains(e.Note, "Doe") {
			t.Errorf("audit entry keeps a value: %q", e.Note)
		}
		if e.Action == privacy.ActionProgress && !strings.Contains(e.Note, "name corrected 2") {
			t.Errorf("progress note %q does not name the corrected field", e.Note)
		}
	}
}

func TestFilingRefusesCorrectionsTheAccountRulesRefuse(t *testing.T) {
	w := newWorld(t, 1)
	for _, c := range []privacy.Correction{{Field: "country", Value: "Germany"}, {Field: "email", Value: "not an address"}, {Field: "name", Value: strings.Repeat("x", 150)}} {
		_, err := w.svc.File(ctx, privacy.FileInput{Email: janeMail, Type: privacy.TypeCorrect, Regulation: privacy.CCPA, Corrections: []privacy.Correction{c}})
		var v *privacy.ValidationError
		if !errors.As(err, &v) || v.Field != "corrections" {
			t.Errorf("correction %s=%q: %v, want invalid corrections", c.Field, c.Value, err)
		}
	}
}

func TestOptOutAndLimitAreRecordedOnProfilesAndEverySite(t *testing.T) {
	for _, typ := range []privacy.Type{privacy.TypeOptOut, privacy.TypeLimit} {
		t.Run(string(typ), func(t *testing.T) {
			w := newWorld(t, 1)
			// Neither needs verification (CCPA): approve at once.
			filed := w.file(t, janeMail, typ)
			w.approveAndRun(t, filed.ID)
			for _, s := range w.h.Sites {
				if mine := s.IntegratorID == janeInt; mine == s.PublishesAnswers() {
					t.Errorf("site %s of %s publishes answers: %v", s.Sitekey, s.IntegratorID, s.PublishesAnswers())
				}
			}
			c := w.h.Customers[janeCust].Choices
			if typ == privacy.TypeOptOut && !c.OptOutSale || typ == privacy.TypeLimit && !c.LimitSensitive {
				t.Errorf("customer choices %+v", c)
			}
			if w.h.Customers[bobCust].Choices.Any() || w.h.Integrators[bobInt].Choices.Any() {
				t.Error("Bob's choices changed")
			}
		})
	}
}

func TestQueueMessagesAreCheckedBeforeAnythingRuns(t *testing.T) {
	good := `{"v":1,"request_id":"pr_0123456789abcdef0123456789abcdef","type":"delete","regulation":"ccpa","approved_at":"2026-11-30T19:40:00Z"}`
	if m, err := privacy.ParseMessage(good); err != nil || m.Kind != privacy.KindRun || m.Type != privacy.TypeDelete {
		t.Fatalf("good job: %+v, %v", m, err)
	}
	if m, err := privacy.ParseMessage(`{"v":1,"kind":"close_unverified"}`); err != nil || m.Kind != privacy.KindCloseUnverified {
		t.Fatalf("sweep: %+v, %v", m, err)
	}
	if m, err := privacy.ParseMessage(`{"v":1,"kind":"expire_jobs"}`); err != nil || m.Kind != privacy.KindExpireJobs {
		t.Fatalf("expired jobs sweep: %+v, %v", m, err)
	}
	for _, bad := range []string{
		``, `[]`, `{"v":2,"request_id":"pr_0123456789abcdef0123456789abcdef","type":"delete"}`,
		`{"v":1,"request_id":"pr_../../etc","type":"delete"}`,
		`{"v":1,"request_id":"pr_0123456789abcdef0123456789abcdef","type":"wipe_everything"}`,
		`{"v":1,"kind":"drop_tables"}`,
		`{"v":1,"kind":"close_unverified","request_id":"pr_0123456789abcdef0123456789abcdef"}`,
		`{"v":1,"kind":"expire_jobs","type":"delete"}`,
		`{"v":1,"request_id":"pr_0123456789abcdef0123456789abcdef","type":"delete","email":"jane@example.com"}`,
	} {
		if _, err := privacy.ParseMessage(bad); !errors.Is(err, privacy.ErrBadMessage) {
			t.Errorf("%q: %v, want ErrBadMessage", bad, err)
		}
	}
}

// A job must be what was approved: a message naming another type is refused, and the
// request stays as it was.
func TestJobOfAnotherTypeIsRefused(t *testing.T) {
	w := newWorld(t, 1)
	r, _ := w.verified(t, janeMail, privacy.TypeAccess)
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	build := func(r privacy.Request) ([]privacy.Executor, error) { return privacy.Executors(r, w.deps) }
	_, err := w.svc.RunJob(ctx, privacy.Job{V: 1, RequestID: r.ID, Type: privacy.TypeDelete}, build)
	if !errors.Is(err, privacy.ErrBadMessage) {
		t.Fatalf("RunJob with the wrong type: %v", err)
	}
	if slices.Contains(w.janeTraces(), "integrator") == false {
		t.Fatal("the mistyped job erased Jane")
	}
	if got := w.get(t, r.ID); got.Status != privacy.StatusInProgress || len(got.Progress) != 0 {
		t.Fatalf("request changed: %+v", got)
	}
}

// A withdrawal of consent needs no verification, so one filed by someone who cannot read
// Jane's mail must not erase her: unverified, it records the opt-out and limit choices.
func TestUnverifiedWithdrawalStopsUseButErasesNothing(t *testing.T) {
	w := newWorld(t, 2)
	filed := w.file(t, janeMail, privacy.TypeWithdrawConsent)
	done := w.approveAndRun(t, filed.ID)
	if done.Status != privacy.StatusCompleted {
		t.Fatalf("status %s", done.Status)
	}
	if len(w.janeTraces()) < 10 {
		t.Fatalf("an unverified withdrawal erased data; left: %v", w.janeTraces())
	}
	it := w.h.Integrators[janeInt]
	if !it.Choices.OptOutSale || !it.Choices.LimitSensitive {
		t.Fatalf("integrator choices %+v", it.Choices)
	}
	for _, s := range w.h.Sites {
		if s.IntegratorID == janeInt && s.PublishesAnswers() {
			t.Errorf("site %s still publishes answers", s.Sitekey)
		}
	}
}

// The customer deletes a job while an access request is being carried out over several
// invocations: every job still there is in the package, none is skipped because the list
// of jobs shifted under the walk.
func TestAccessPackageKeepsEveryJobWhenOneIsDeletedMidway(t *testing.T) {
	w := newWorld(t, 3)
	third := job.Job{ID: "Jan-job-2", CustomerID: janeCust, Name: "Jane Doe dataset", Kind: job.KindBinary, Classes: []string{"yes", "no"},
		Question: map[string]string{"en": "Is it?"}, Status: job.StatusActive, CreatedAt: t0.Add(5 * time.Minute)}
	w.h.Jobs[third.ID] = third
	r, _ := w.verified(t, janeMail, privacy.TypeAccess)
	if _, err := w.svc.Approve(ctx, r.ID, operator); err != nil {
		t.Fatal(err)
	}
	req := w.get(t, r.ID)
	execs, err := privacy.Executors(req, w.deps)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(execs, func(e privacy.Executor) bool { return e.Name() == privacy.ExecJobs })
	jobsExec := execs[i]
	step, err := jobsExec.Step(ctx, req, "")
	if err != nil || step.Done {
		t.Fatalf("first step: %+v, %v", step, err)
	}
	delete(w.h.Jobs, w.janeJobs[0]) // written already; the list shifts under the walk
	written := 1
	for !step.Done {
		if step, err = jobsExec.Step(ctx, req, step.Cursor); err != nil {
			t.Fatal(err)
		}
		written++
	}
	var got []string
	for _, key := range w.files.Keys("access/" + r.ID + "/parts/") {
		raw, _ := w.files.Object(key)
		var recs []privacy.Record
		if err := json.Unmarshal(raw, &recs); err != nil {
			t.Fatalf("part %s: %v", key, err)
		}
		for _, rec := range recs {
			if rec.Kind == privacy.KindJob {
				got = append(got, rec.ID)
			}
		}
	}
	slices.Sort(got)
	if want := []string{w.janeJobs[0], w.janeJobs[1], third.ID}; !slices.Equal(got, want) {
		t.Fatalf("jobs in the package %v, want %v (%d steps)", got, want, written)
	}
}
