package dynamo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// holdWorld is the tables with two people's accounts, written by the stores that own them.
type holdWorld struct {
	c        *dynamodb.Client
	tables   map[string]string
	holdings *dynamo.Holdings
	svc      *privacy.Service
	mail     *privacytest.Mailer
	deps     privacy.ExecDeps
	people   map[string]holdPerson
}

// holdPerson is what identifies one person's records.
type holdPerson struct {
	email, name, integrator, customer string
	sitekeys, secretHashes, keyHashes []string
	jobs                              []string
}

func (p holdPerson) traces() []string {
	out := []string{strings.ToLower(p.email), strings.ToLower(p.name), p.integrator, p.customer}
	out = append(out, p.secretHashes...)
	out = append(out, p.keyHashes...)
	return out
}

func newHoldWorld(t *testing.T) *holdWorld {
	t.Helper()
	ctx := context.Background()
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	w := &holdWorld{c: c, tables: tables, people: map[string]holdPerson{}}
	w.holdings = dynamo.NewHoldings(c, dynamo.HoldingsTables{Accounts: tables[schema.TableAccounts], Labels: tables[schema.TableLabels], Privacy: tables[schema.TablePrivacy]}, nil)
	store := dynamo.NewPrivacy(c, tables[schema.TablePrivacy], nil)
	w.svc, w.mail = privacyService(t, store, w.holdings)
	w.deps = privacy.ExecDeps{Accounts: w.holdings, Labels: w.holdings, Log: w.holdings, Media: &privacytest.Bucket{}, Exports: &privacytest.Bucket{}, Files: &privacytest.Bucket{}}

	accounts := dynamo.NewAccounts(c, tables[schema.TableAccounts])
	asvc := account.NewService(accounts, nil)
	csvc := account.NewCustomerService(accounts, nil)
	jobs := dynamo.NewJobs(c, tables[schema.TableLabels])
	exports := dynamo.NewExports(c, tables[schema.TableLabels])
	disclosures := dynamo.NewDisclosures(c, dynamo.DisclosureTables{Privacy: tables[schema.TablePrivacy], Accounts: tables[schema.TableAccounts]}, nil)
	for _, who := range []struct{ key, email, name string }{{"jane", "Jane.Doe@example.com", "Jane Doe"}, {"bob", "bob@example.org", "Bob Roe"}} {
		p := holdPerson{email: who.email, name: who.name}
		it, err := asvc.CreateIntegrator(ctx, account.NewIntegrator{Name: who.name, Email: who.email, Country: "US"})
		if err != nil {
			t.Fatal(err)
		}
		p.integrator = it.ID
		for i := range 2 {
			site, _, err := asvc.CreateSite(ctx, it.ID, account.NewSite{Name: fmt.Sprintf("shop %d", i), Hostnames: []string{"shop.example"}})
			if err != nil {
				t.Fatal(err)
			}
			p.sitekeys = append(p.sitekeys, site.Sitekey)
			p.secretHashes = append(p.secretHashes, site.SecretHash)
		}
		cu, err := csvc.CreateCustomer(ctx, account.NewCustomer{Name: who.name, Email: strings.ToUpper(who.email), Country: "DE"})
		if err != nil {
			t.Fatal(err)
		}
		p.customer = cu.ID
		for range 2 {
			k, _, err := csvc.CreateAPIKey(ctx, cu.ID, "ci")
			if err != nil {
				t.Fatal(err)
			}
			p.keyHashes = append(p.keyHashes, k.Hash)
		}
		jobID := who.key + "-dataset"
		j := job.Job{ID: jobID, CustomerID: cu.ID, Name: who.name + " dataset", Kind: job.KindBinary, Question: map[string]string{"en": "Is it?"}, CreatedAt: time.Now().UTC()}.Normalize()
		if err := jobs.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		var entries []job.Entry
		for i := range 30 {
			entries = append(entries, job.Entry{Item: job.Item{JobID: jobID, ID: fmt.Sprintf("it-%02d", i), Text: "text", Status: job.ItemOpen}})
		}
		if err := jobs.AddEntries(ctx, j, entries); err != nil {
			t.Fatal(err)
		}
		p.jobs = append(p.jobs, jobID)
		for _, sk := range []string{"JOB", "ANS#feedface"} {
			item := map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "CONS#" + jobID}, "sk": &types.AttributeValueMemberS{Value: sk},
				"kind": &types.AttributeValueMemberS{Value: "consensus"}, "ttl": dynamo.TTL(time.Now().Add(time.Hour)),
			}
			labels := w.tables[schema.TableLabels]
			if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &labels, Item: item}); err != nil {
				t.Fatal(err)
			}
		}
		e, err := export.New(cu.ID, jobID, export.FormatCSV, "media", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := exports.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := disclosures.RecordDisclosure(ctx, privacy.Disclosure{Recipient: it.ID, Sitekey: p.sitekeys[0], Kind: privacy.DisclosureRiskIP,
				Subject: "203.0.113.0/24", At: time.Now().Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		w.people[who.key] = p
	}
	return w
}

// run files, verifies (when needed), approves and carries out a request.
func (w *holdWorld) run(t *testing.T, email string, typ privacy.Type, corrections ...privacy.Correction) privacy.Request {
	t.Helper()
	ctx := context.Background()
	filed, err := w.svc.File(ctx, privacy.FileInput{Email: email, Type: typ, Regulation: privacy.CCPA, Corrections: corrections})
	if err != nil {
		t.Fatal(err)
	}
	if typ.NeedsVerification() {
		if _, _, err := w.svc.Verify(ctx, filed.ID, w.mail.LastCode(email)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.svc.Approve(ctx, filed.ID, privacy.Actor{Kind: privacy.ActorOperator}); err != nil {
		t.Fatal(err)
	}
	done, err := w.svc.RunJob(ctx, privacy.Job{V: 1, RequestID: filed.ID, Type: typ}, func(r privacy.Request) ([]privacy.Executor, error) {
		return privacy.Executors(r, w.deps)
	})
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("run %s: %v, %v", typ, done.Status, err)
	}
	return done
}

// holdDump renders every item of every table as JSON text, table by table.
func (w *holdWorld) dump(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for logical, table := range w.tables {
		items, err := privScanAll(context.Background(), w.c, table)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			var m map[string]any
			if err := attributevalue.UnmarshalMap(it, &m); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(m)
			// Lower-cased: addresses are compared the way they are matched.
			out[logical] = append(out[logical], strings.ToLower(string(b)))
		}
	}
	return out
}

func TestHoldingsEraseASubjectFromEveryTable(t *testing.T) {
	w := newHoldWorld(t)
	jane, bob := w.people["jane"], w.people["bob"]
	// An earlier access request keeps Jane's integrator id until the erasure scrubs it.
	if earlier := w.run(t, jane.email, privacy.TypeAccess); len(earlier.AccountIDs) != 1 {
		t.Fatalf("access request account ids %v", earlier.AccountIDs)
	}
	before := w.dump(t)
	done := w.run(t, "JANE.DOE@EXAMPLE.COM", privacy.TypeDelete)
	after := w.dump(t)
	for table, items := range after {
		for _, it := range items {
			for _, trace := range jane.traces() {
				if strings.Contains(it, trace) {
					t.Errorf("table %s still holds %q: %s", table, trace, it)
				}
			}
			// The marker of the job's deletion (job id and time only) stays until the daily
			// sweep (TestSweepRemovesAnImageUploadedAfterTheErasureOnDynamoDB).
			if (strings.Contains(it, "CONS#jane-dataset") || strings.Contains(it, "jane-dataset")) && !strings.Contains(it, `"pk":"expiry"`) {
				t.Errorf("table %s still holds Jane's job: %s", table, it)
			}
		}
	}
	for _, trace := range bob.traces() {
		found := false
		for _, items := range after {
			for _, it := range items {
				found = found || strings.Contains(it, trace)
			}
		}
		if !found {
			t.Errorf("Bob's %q is gone", trace)
		}
	}
	rep := privacy.ReportOf(done)
	if rep[privacy.ExecRequests][privacy.KindRequestScrubbed] != 1 {
		t.Errorf("report %v: the earlier request was not scrubbed", rep)
	}
	if rep[privacy.ExecJobs][privacy.KindItem] != 30 || rep[privacy.ExecJobs][privacy.KindConsensus] != 2 || rep[privacy.ExecDisclosures][privacy.KindDisclosure] != 5 ||
		rep[privacy.ExecAccounts][privacy.KindSiteSecret] != 2 || rep[privacy.ExecAccounts][privacy.KindAPIKey] != 2 || rep[privacy.ExecExports][privacy.KindExport] != 1 {
		t.Errorf("report %v", rep)
	}
	// What was removed is Jane's: Bob's records and the request log are all that grew or stayed.
	if n, m := len(before[schema.TableAccounts]), len(after[schema.TableAccounts]); m != n/2 {
		t.Errorf("accounts table: %d items before, %d after; want half", n, m)
	}
}

func TestHoldingsRecordChoicesAndCorrections(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	w.run(t, jane.email, privacy.TypeOptOut)
	accounts := dynamo.NewAccounts(w.c, w.tables[schema.TableAccounts])
	it, err := accounts.GetIntegrator(ctx, jane.integrator)
	if err != nil || !it.Choices.OptOutSale {
		t.Fatalf("integrator after opt-out: %+v, %v", it.Choices, err)
	}
	for _, sk := range jane.sitekeys {
		if s, err := accounts.GetSite(ctx, sk); err != nil || s.PublishesAnswers() {
			t.Fatalf("site %s after opt-out: %+v, %v", sk, s.Choices, err)
		}
	}
	if s, _ := accounts.GetSite(ctx, w.people["bob"].sitekeys[0]); !s.PublishesAnswers() {
		t.Fatal("Bob's site stopped publishing")
	}
	// A later limit keeps the opt-out.
	w.run(t, jane.email, privacy.TypeLimit)
	if c, _ := accounts.GetCustomer(ctx, jane.customer); !c.Choices.OptOutSale || !c.Choices.LimitSensitive {
		t.Fatalf("customer choices %+v", c.Choices)
	}

	w.run(t, jane.email, privacy.TypeCorrect, privacy.Correction{Field: "email", Value: "jane@new.example"}, privacy.Correction{Field: "country", Value: "fr"})
	it, _ = accounts.GetIntegrator(ctx, jane.integrator)
	c, _ := accounts.GetCustomer(ctx, jane.customer)
	if it.Email != "jane@new.example" || it.Country != "FR" || c.Email != "jane@new.example" || it.Name != jane.name {
		t.Fatalf("after the correction: %+v / %+v", it, c)
	}
	for table, items := range w.dump(t) {
		for _, item := range items {
			if strings.Contains(strings.ToLower(item), strings.ToLower(jane.email)) {
				t.Errorf("table %s keeps the old address: %s", table, item)
			}
		}
	}
	if err := w.holdings.UpdateProfile(ctx, privacy.HolderCustomer, "00000000-0000-4000-8000-000000000000", map[string]string{"name": "x"}); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("UpdateProfile of a missing customer: %v", err)
	}
}

func TestHoldingsPageDisclosuresAndScrubOnlyFinishedRequests(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane := w.people["jane"]
	var got []privacy.Disclosure
	after := ""
	for range 10 {
		page, next, err := w.holdings.DisclosuresTo(ctx, jane.integrator, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		after = next
	}
	if len(got) != 5 || !got[0].At.Before(got[4].At) {
		t.Fatalf("paged disclosures: %d, want 5 oldest first", len(got))
	}
	filed, err := w.svc.File(ctx, privacy.FileInput{Email: jane.email, Type: privacy.TypeAccess, Regulation: privacy.GDPR})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := w.holdings.ScrubAccountIDs(ctx, filed.ID); ok || err != nil {
		t.Fatalf("scrubbed an open request: %v, %v", ok, err)
	}
	reqs, err := w.holdings.RequestsOf(ctx, privacy.SubjectHash(bytes.Repeat([]byte{3}, 32), strings.ToLower(jane.email)))
	if err != nil || len(reqs) != 1 || reqs[0].ID != filed.ID || len(reqs[0].AccountIDs) != 1 {
		t.Fatalf("RequestsOf = %+v, %v", reqs, err)
	}
}

// Jane's opt-out, still open while her erasure runs, names her integrator (matched at
// filing); once the erasure has deleted that account, the request keeps its id neither
// while open nor once it is denied. DropAccountIDs removes only the ids it is given.
func TestHoldingsErasureDropsItsAccountIDsFromAnOpenRequest(t *testing.T) {
	w := newHoldWorld(t)
	ctx := context.Background()
	jane, bob := w.people["jane"], w.people["bob"]
	optOut, err := w.svc.File(ctx, privacy.FileInput{Email: jane.email, Type: privacy.TypeOptOut, Regulation: privacy.CCPA})
	if err != nil {
		t.Fatal(err)
	}
	done := w.run(t, jane.email, privacy.TypeDelete)
	if n := privacy.ReportOf(done)[privacy.ExecAccounts][privacy.KindRequestScrubbed]; n != 1 {
		t.Errorf("accounts report counts %d requests cleared of account ids, want 1", n)
	}
	if _, err := w.svc.Deny(ctx, optOut.ID, privacy.DenyNoMatch, "", privacy.Actor{Kind: privacy.ActorOperator}); err != nil {
		t.Fatal(err)
	}
	if r, _, err := w.svc.Get(ctx, optOut.ID); err != nil || r.Status != privacy.StatusDenied || slices.Contains(r.AccountIDs, jane.integrator) {
		t.Fatalf("denied opt-out: %s with account ids %v (%v), want none of the erased integrator", r.Status, r.AccountIDs, err)
	}

	filed, err := w.svc.File(ctx, privacy.FileInput{Email: bob.email, Type: privacy.TypeOptOut, Regulation: privacy.CCPA})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := w.holdings.DropAccountIDs(ctx, filed.ID, []string{jane.integrator}); ok || err != nil {
		t.Fatalf("dropped ids Bob's request does not hold: %v, %v", ok, err)
	}
	if ok, err := w.holdings.DropAccountIDs(ctx, filed.ID, []string{bob.integrator}); !ok || err != nil {
		t.Fatalf("DropAccountIDs of Bob's integrator: %v, %v", ok, err)
	}
	r, _, err := w.svc.Get(ctx, filed.ID)
	if err != nil || len(r.AccountIDs) != 0 || !r.Status.Open() {
		t.Fatalf("after the drop Bob's request is %s with %v (%v)", r.Status, r.AccountIDs, err)
	}
}
