package dynamo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	mclient "github.com/truora/minidyn/aws-v2/client"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/schema"
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

// The job listing pages on the local stack's DynamoDB stand-in as on DynamoDB (the
// contract runs on DynamoDB Local): from a position by a key condition on gsi1, so a page
// after a deleted job goes on with the next one.
func TestListJobsPagesOnMinidyn(t *testing.T) {
	ctx := context.Background()
	s := dynamo.NewJobs(minidynIndexedLabels(t), "labels")
	first := job.Job{ID: "job_1", CustomerID: "c", Name: "n", Kind: job.KindMultipleChoice, Classes: []string{"a", "b"},
		Question: map[string]string{"en": "a {class}?"}, Status: job.StatusActive, Target: 0.9, CreatedAt: time.Now().UTC()}.Normalize()
	if err := s.CreateJob(ctx, first); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, id := range []string{"job_3", "job_2"} {
		j := first
		j.ID, j.CreatedAt = id, first.CreatedAt.Add(time.Duration(i+1)*time.Minute)
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	want = append([]string{first.ID}, want...)
	var got []string
	after := job.JobPosition{}
	for range 4 {
		page, more, err := s.ListJobs(ctx, first.CustomerID, after, 1)
		if err != nil || len(page) != 1 {
			t.Fatalf("page after %+v: %+v, %v", after, page, err)
		}
		got = append(got, page[0].ID)
		if !more {
			break
		}
		after = page[0].Position()
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages of one: %v, want %v", got, want)
	}
	if err := s.DeleteJob(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	page, more, err := s.ListJobs(ctx, first.CustomerID, first.Position(), 10)
	if err != nil || len(page) != 2 || page[0].ID != "job_3" || more {
		t.Fatalf("after a deleted job: %+v, more %v, %v", page, more, err)
	}
}

// minidynIndexedLabels is minidynLabels with the labels table's gsi1, as the local stack
// creates it (dynamo.CreateTables).
func minidynIndexedLabels(t *testing.T) *mclient.Client {
	t.Helper()
	c := mclient.NewClient()
	ix := schema.GSI1
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(sk), KeyType: types.KeyTypeRange}}
	}
	var defs []types.AttributeDefinition
	for _, a := range []string{"pk", "sk", ix.PartitionKey, ix.SortKey} {
		defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(a), AttributeType: types.ScalarAttributeTypeS})
	}
	if _, err := c.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String("labels"), BillingMode: types.BillingModePayPerRequest, AttributeDefinitions: defs, KeySchema: key("pk", "sk"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String(ix.Name), KeySchema: key(ix.PartitionKey, ix.SortKey),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}},
	}); err != nil {
		t.Fatal(err)
	}
	return c
}
