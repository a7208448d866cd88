package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/job"
)

// Expiry markers of jobs created with an expiry (job.ExpiryStore), on the labels table:
//
//	EXPIRY  <expires at, whole seconds, UTC>#<job id>   job_id, expires_at
//
// One partition, read in key order by the daily sweep: markers are one per expiring job,
// written with the job and removed by the sweep once it has removed the job's images.
var _ job.ExpiryStore = (*Jobs)(nil)

const (
	jobsExpiryPK = "EXPIRY"
	// jobsExpiryLayout is fixed-width, so keys sort as times do.
	jobsExpiryLayout = "2006-01-02T15:04:05Z"
	// jobExpiryMarkerGrace is how long a marker outlives its job's expiry by its own ttl:
	// the sweep runs daily, so it only ever matters if the sweep stops running.
	jobExpiryMarkerGrace = 30 * 24 * time.Hour
)

func jobsExpirySK(jobID string, at time.Time) string {
	return at.UTC().Truncate(time.Second).Format(jobsExpiryLayout) + "#" + jobID
}

type jobsExpiryItem struct {
	PK        string    `dynamodbav:"pk"`
	SK        string    `dynamodbav:"sk"`
	Kind      string    `dynamodbav:"kind"`
	JobID     string    `dynamodbav:"job_id"`
	ExpiresAt time.Time `dynamodbav:"expires_at"`
	TTL       int64     `dynamodbav:"ttl"`
}

// expiryPut is the marker of j, written with it; nil for a job without an expiry.
func (s *Jobs) expiryPut(j job.Job) (*types.TransactWriteItem, error) {
	if j.ExpiresAt.IsZero() {
		return nil, nil
	}
	item, err := attributevalue.MarshalMap(jobsExpiryItem{
		PK: jobsExpiryPK, SK: jobsExpirySK(j.ID, j.ExpiresAt), Kind: "job-expiry", JobID: j.ID,
		ExpiresAt: j.ExpiresAt.UTC(), TTL: j.ExpiresAt.Add(jobExpiryMarkerGrace).Unix(),
	})
	if err != nil {
		return nil, fmt.Errorf("encode expiry marker: %w", err)
	}
	return &types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: item}}, nil
}

// DueExpiries implements job.ExpiryStore.
func (s *Jobs) DueExpiries(ctx context.Context, now time.Time, limit int) ([]job.Expiry, error) {
	var due []job.Expiry
	// Every marker of the second now is in sorts before "<now>$" ('#' < '$').
	bound := now.UTC().Truncate(time.Second).Format(jobsExpiryLayout) + "$"
	err := queryEach(ctx, s.api, time.Time{}, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :p AND sk < :b"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": &types.AttributeValueMemberS{Value: jobsExpiryPK}, ":b": &types.AttributeValueMemberS{Value: bound},
		},
		ConsistentRead: aws.Bool(true),
	}, limit, func(item map[string]types.AttributeValue) error {
		var it jobsExpiryItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("decode expiry marker: %w", err)
		}
		due = append(due, job.Expiry{JobID: it.JobID, At: it.ExpiresAt})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list expiry markers: %w", err)
	}
	return due, nil
}

// DeleteExpiry implements job.ExpiryStore.
func (s *Jobs) DeleteExpiry(ctx context.Context, e job.Expiry) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: Key(jobsExpiryPK, jobsExpirySK(e.JobID, e.At))})
	if err != nil {
		return fmt.Errorf("delete expiry marker: %w", err)
	}
	return nil
}
