package dynamo_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/dynamo"
)

// batchOnly is a BatchAPI whose BatchGetItem is scripted; the other calls are not used.
type batchOnly struct {
	dynamo.API
	batchGet func(in *dynamodb.BatchGetItemInput) (*dynamodb.BatchGetItemOutput, error)
}

var _ dynamo.BatchAPI = (*batchOnly)(nil)

func (b *batchOnly) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return b.batchGet(in)
}

// Keys DynamoDB leaves unprocessed are asked for again, strongly consistent, until all are
// read: the consensus state an answer touches is never read in part.
func TestConsensusLoadRetriesUnprocessedKeys(t *testing.T) {
	var calls [][]map[string]types.AttributeValue
	api := &batchOnly{batchGet: func(in *dynamodb.BatchGetItemInput) (*dynamodb.BatchGetItemOutput, error) {
		req := in.RequestItems["labels"]
		if !aws.ToBool(req.ConsistentRead) {
			t.Errorf("call %d is not strongly consistent", len(calls)+1)
		}
		calls = append(calls, req.Keys)
		out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
		if len(calls) == 1 { // the first call leaves all but one key unprocessed
			out.UnprocessedKeys = map[string]types.KeysAndAttributes{"labels": {Keys: req.Keys[1:]}}
		}
		return out, nil
	}}
	s := dynamo.NewConsensus(api, "labels")
	if _, err := s.Load(context.Background(), "job-1", "answerer-1", []string{"a", "b"}, 2); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 {
		t.Fatalf("%d BatchGetItem calls, want 2 (one retry of the unprocessed keys)", len(calls))
	}
	if len(calls[0]) != 4 || len(calls[1]) != 3 {
		t.Errorf("asked for %d then %d keys, want 4 (job, answerer, two items) then the 3 left unprocessed", len(calls[0]), len(calls[1]))
	}
}
