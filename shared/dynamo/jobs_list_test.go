package dynamo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	mclient "github.com/truora/minidyn/aws-v2/client"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/job"
)

// The item listing continues after its cursor even when the item the cursor names was
// removed meanwhile (a rejected upload, a swept pending item): the rest of the job is
// listed, not an empty last page. The local stack's DynamoDB (minidyn) only starts after
// an ExclusiveStartKey that still exists, so the continuation must not depend on it.
func TestListEntriesContinuesAfterADeletedCursorItem(t *testing.T) {
	ctx := context.Background()
	s, j := minidynJob(t)
	var entries []job.Entry
	for _, id := range []string{"a", "b", "c", "d"} {
		entries = append(entries, job.Entry{Item: job.Item{JobID: j.ID, ID: id, Text: id, Status: job.ItemOpen}})
	}
	if err := s.AddEntries(ctx, j, entries); err != nil {
		t.Fatal(err)
	}
	page, next, err := s.ListEntries(ctx, j.ID, "", 2)
	if err != nil || len(page) != 2 || next != "b" {
		t.Fatalf("first page %v, next %q, %v", page, next, err)
	}
	if err := s.DeleteEntry(ctx, j.ID, "b"); err != nil {
		t.Fatal(err)
	}
	page, next, err = s.ListEntries(ctx, j.ID, next, 2)
	var ids []string
	for _, e := range page {
		ids = append(ids, e.ID)
	}
	if err != nil || strings.Join(ids, ",") != "c,d" || next != "" {
		t.Fatalf("after a deleted cursor item: %v, next %q, %v, want c,d", ids, next, err)
	}
}

// minidynLabels is an empty labels table ("labels": pk, sk) on the local stack's DynamoDB
// stand-in, in memory.
func minidynLabels(t *testing.T) *mclient.Client {
	t.Helper()
	return dynamotest.Minidyn(t, "labels")
}

// minidynJob is a job store on minidynLabels with one active multiple-choice job, job_1.
func minidynJob(t *testing.T) (*dynamo.Jobs, job.Job) {
	t.Helper()
	s := dynamo.NewJobs(minidynLabels(t), "labels")
	j := job.Job{ID: "job_1", CustomerID: "c", Name: "n", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"},
		Question: map[string]string{"en": "a {class}?"}, Status: job.StatusActive, Target: 0.9, CreatedAt: time.Now().UTC()}.Normalize()
	if err := s.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return s, j
}
