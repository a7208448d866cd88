package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// scripted is DynamoDB Local with scripted failures. batch says how many of a
// BatchWriteItem call's requests to write (the rest come back unprocessed, as when
// DynamoDB throttles part of a batch), or fails the call before anything is written;
// deleteItem fails a DeleteItem call before anything is deleted.
type scripted struct {
	*dynamodb.Client
	batch      func(reqs []types.WriteRequest) (write int, err error)
	deleteItem func(in *dynamodb.DeleteItemInput) error
}

func (s scripted) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if s.batch == nil || len(in.RequestItems) != 1 {
		return s.Client.BatchWriteItem(ctx, in, opts...)
	}
	for table, reqs := range in.RequestItems {
		write, err := s.batch(reqs)
		if err != nil {
			return nil, err
		}
		if write >= len(reqs) {
			break
		}
		if write > 0 {
			out, err := s.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs[:write]}}, opts...)
			if err != nil || len(out.UnprocessedItems) > 0 {
				return nil, fmt.Errorf("write the scripted part: %v, %d unprocessed", err, len(out.UnprocessedItems))
			}
		}
		return &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{table: reqs[write:]}}, nil
	}
	return s.Client.BatchWriteItem(ctx, in, opts...)
}

func (s scripted) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if s.deleteItem != nil {
		if err := s.deleteItem(in); err != nil {
			return nil, err
		}
	}
	return s.Client.DeleteItem(ctx, in, opts...)
}

func deletedPK(r types.WriteRequest) string {
	if r.DeleteRequest == nil {
		return ""
	}
	pk, _ := r.DeleteRequest.Key[schema.PartitionKey].(*types.AttributeValueMemberS)
	if pk == nil {
		return ""
	}
	return pk.Value
}

// countWorld is a holdWorld in which Jane has more consensus records, disclosures and
// sites than one batch write deletes (25), and accessibility records, with its privacy
// worker on api (nil: DynamoDB Local as it is).
func countWorld(t *testing.T, script func(c *dynamodb.Client) dynamo.API) *holdWorld {
	t.Helper()
	ctx := context.Background()
	w := newHoldWorld(t)
	jane := w.people["jane"]
	labels := w.tables[schema.TableLabels]
	for i := range 30 {
		item := map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "CONS#" + jane.jobs[0]}, "sk": &types.AttributeValueMemberS{Value: fmt.Sprintf("ITEM#x-%02d", i)},
			"kind": &types.AttributeValueMemberS{Value: "consensus"}, "ttl": dynamo.TTL(time.Now().Add(time.Hour)),
		}
		if _, err := w.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &labels, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	disclosures := dynamo.NewDisclosures(w.c, dynamo.DisclosureTables{Privacy: w.tables[schema.TablePrivacy], Accounts: w.tables[schema.TableAccounts]}, nil)
	for i := range 30 {
		if err := disclosures.RecordDisclosure(ctx, privacy.Disclosure{Recipient: jane.integrator, Sitekey: jane.sitekeys[0], Kind: privacy.DisclosureRiskIP,
			Subject: "198.51.100.0/24", At: time.Now().Add(time.Duration(10+i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	for range 30 {
		w.newSite(t, jane.integrator)
	}
	a11y := dynamo.NewAccessibility(w.c, w.tables[schema.TableAccounts])
	subject := privacy.SubjectHash(bytes.Repeat([]byte{3}, 32), strings.ToLower(jane.email)) // privacyService's key
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 3 {
		tok := accessibility.Token{Hash: fmt.Sprintf("%064x", i+1), Subject: subject, CreatedAt: now, ExpiresAt: now.Add(accessibility.TokenTTL)}
		su := accessibility.Signup{CodeHash: fmt.Sprintf("%064x", i+100), Subject: subject, CreatedAt: now, ExpiresAt: now.Add(accessibility.CodeTTL)}
		for _, err := range []error{a11y.PutToken(ctx, tok), a11y.PutSignup(ctx, su)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	api := dynamo.API(w.c)
	if script != nil {
		api = script(w.c)
	}
	h := dynamo.NewHoldings(api, dynamo.HoldingsTables{Accounts: w.tables[schema.TableAccounts], Labels: labels, Privacy: w.tables[schema.TablePrivacy]}, nil)
	w.deps.Accounts, w.deps.Labels, w.deps.Log = h, h, h
	w.deps.Accessibility = dynamo.NewAccessibility(api, w.tables[schema.TableAccounts])
	return w
}

// eraseJane files, verifies and approves Jane's erasure; run carries it out once.
func (w *holdWorld) eraseJane(t *testing.T) (string, func() (privacy.Request, error)) {
	t.Helper()
	ctx := context.Background()
	jane := w.people["jane"]
	filed, err := w.svc.File(ctx, privacy.FileInput{Email: jane.email, Type: privacy.TypeDelete, Regulation: privacy.CCPA})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.Verify(ctx, filed.ID, w.mail.LastCode(jane.email)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Approve(ctx, filed.ID, privacy.Actor{Kind: privacy.ActorOperator}); err != nil {
		t.Fatal(err)
	}
	return filed.ID, func() (privacy.Request, error) {
		return w.svc.RunJob(ctx, privacy.Job{V: 1, RequestID: filed.ID, Type: privacy.TypeDelete}, func(r privacy.Request) ([]privacy.Executor, error) {
			return privacy.Executors(r, w.deps)
		})
	}
}

// A deletion that fails in a later batch — the batch write fails outright, or DynamoDB
// processes part of it and the retry of the rest fails — has deleted the earlier batches
// (and that part), which the retry no longer finds: the step must report them, so that
// the report after the retry equals an uninterrupted run's. Likewise for accessibility
// records, deleted one by one, when a deletion after the first fails.
func TestErasureReportIsExactAfterALaterBatchFails(t *testing.T) {
	_, run := countWorld(t, nil).eraseJane(t)
	done, err := run()
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("uninterrupted run: %v, %v", done.Status, err)
	}
	want := privacy.ReportOf(done)
	for exec, kinds := range map[string]map[string]int{
		privacy.ExecJobs:          {privacy.KindConsensus: 32},
		privacy.ExecDisclosures:   {privacy.KindDisclosure: 35},
		privacy.ExecAccounts:      {privacy.KindSite: 32, privacy.KindSiteSecret: 32},
		privacy.ExecAccessibility: {privacy.KindAccessibilityToken: 3, privacy.KindAccessibilitySignup: 3},
	} {
		for kind, n := range kinds {
			if got := want[exec][kind]; got != n {
				t.Fatalf("uninterrupted report counts %d %s under %s, want %d: %v", got, kind, exec, n, want)
			}
		}
	}

	for _, tc := range []struct{ kind, pkPrefix string }{
		{"consensus records", "CONS#"}, {"disclosures", "DISCLOSURE#"}, {"sites", "SITE#"},
	} {
		for _, half := range []bool{false, true} {
			name := tc.kind + ": the second batch fails"
			if half {
				name = tc.kind + ": half the second batch is written, then its retry fails"
			}
			t.Run(name, func(t *testing.T) {
				calls, failed := 0, false
				w := countWorld(t, func(c *dynamodb.Client) dynamo.API {
					return scripted{Client: c, batch: func(reqs []types.WriteRequest) (int, error) {
						if failed || !strings.HasPrefix(deletedPK(reqs[0]), tc.pkPrefix) {
							return len(reqs), nil
						}
						switch calls++; {
						case calls == 2 && half:
							return len(reqs) / 2, nil
						case calls == 2 || calls == 3 && half:
							failed = true
							return 0, errors.New("throttled")
						}
						return len(reqs), nil
					}}
				})
				checkExactAfterRetry(t, w, want, &failed)
			})
		}
	}

	t.Run("accessibility records: the second deletion fails", func(t *testing.T) {
		calls, failed := 0, false
		w := countWorld(t, func(c *dynamodb.Client) dynamo.API {
			return scripted{Client: c, deleteItem: func(in *dynamodb.DeleteItemInput) error {
				pk, _ := in.Key[schema.PartitionKey].(*types.AttributeValueMemberS)
				if failed || pk == nil || !strings.HasPrefix(pk.Value, dynamo.A11YPrefix) {
					return nil
				}
				if calls++; calls == 2 {
					failed = true
					return errors.New("throttled")
				}
				return nil
			}}
		})
		checkExactAfterRetry(t, w, want, &failed)
	})
}

func checkExactAfterRetry(t *testing.T, w *holdWorld, want privacy.Report, failed *bool) {
	t.Helper()
	_, run := w.eraseJane(t)
	if _, err := run(); err == nil || !*failed {
		t.Fatalf("first run: %v (failure injected: %v), want the injected failure", err, *failed)
	}
	done, err := run()
	if err != nil || done.Status != privacy.StatusCompleted {
		t.Fatalf("retry: %v, %v", done.Status, err)
	}
	if got := privacy.ReportOf(done); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("report after the failure and retry\n got %v\nwant %v (uninterrupted)", got, want)
	}
}
