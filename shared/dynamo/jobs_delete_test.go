package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/job/jobtest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// laggingReplica answers eventually consistent queries from a replica that has not seen
// the latest writes yet (on DynamoDB that lasts up to about a second); strongly
// consistent ones, and every other call, go to the table.
type laggingReplica struct {
	dynamo.API
}

func (l laggingReplica) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if !aws.ToBool(in.ConsistentRead) {
		return &dynamodb.QueryOutput{Items: []map[string]types.AttributeValue{}}, nil
	}
	return l.API.Query(ctx, in, opts...)
}

// A job deleted right after items were added must not report done while its items are
// still stored: once the job record is gone nothing reaches them any more (no API call,
// no privacy erasure), and without an expiry they would stay for ever.
func TestDeleteRightAfterAddingRemovesEveryItem(t *testing.T) {
	c, table := localTable(t, schema.TableLabels)
	ctx := context.Background()
	svc := job.NewService(dynamo.NewJobs(laggingReplica{c}, table), &jobtest.Media{}, time.Now)
	j, err := svc.Create(ctx, "cust-del", job.NewJob{Name: "Reviews", Kind: job.KindBinary, Question: map[string]string{"en": "Is this review positive?"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddItems(ctx, "cust-del", j.ID, []job.NewItem{{ID: "a", Text: "Great"}, {ID: "b", Text: "Awful", Gold: "no"}}); err != nil {
		t.Fatal(err)
	}
	for calls := 0; ; calls++ {
		if calls > 3 {
			t.Fatal("deletion never finished")
		}
		d, err := svc.Delete(ctx, "cust-del", j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Done {
			break
		}
	}
	out, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: &table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "JOB#" + j.ID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 0 {
		t.Fatalf("deletion reported done, but %d records of the job are left", len(out.Items))
	}
}
