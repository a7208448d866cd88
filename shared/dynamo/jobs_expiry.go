package dynamo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Expiry markers of jobs created with an expiry or deleted (job.Store.DeleteJob), and
// upload markers of image items announced for upload (job.ExpiryStore), on the labels
// table:
//
//	EXPIRY    <expires at, whole seconds, UTC>#<job id>   job_id, expires_at (the expiry or
//	                                                      the deletion)
//	JOB#<id>  UPLOAD#<due>#<batch>                        job_id, batch, due_at, uploads
//	          gsi1 UPLOADS / <due>#<job id>#<batch>       [{item_id, media_key}]
//
// Read in due order by the daily sweep (the EXPIRY partition; the UPLOADS partition of
// gsi1). Expiry markers are one per expiring job, written with the job, and one per job
// deleted before its expiry, written with the deletion; upload markers one per AddEntries
// call with pending items (≤ job.MaxBatch uploads), written just before the items. The sweep removes a marker once it has removed the images it names (what is
// left of them). Upload markers name the job's items, so they live in the job's partition
// and go with its items (DeleteEntries): a deleted or erased job leaves none.
var _ job.ExpiryStore = (*Jobs)(nil)

const (
	jobsExpiryPK = "EXPIRY"
	// jobsUploadsGSI1PK is the gsi1 partition of upload markers, jobsUploadSKPrefix the
	// sort key prefix of one in its job's partition.
	jobsUploadsGSI1PK  = "UPLOADS"
	jobsUploadSKPrefix = "UPLOAD#"
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
	return s.markerPut(j.ID, j.ExpiresAt)
}

// markerPut is the expiry marker of job id at at: its expiry, or its deletion (DeleteJob).
func (s *Jobs) markerPut(id string, at time.Time) (*types.TransactWriteItem, error) {
	item, err := attributevalue.MarshalMap(jobsExpiryItem{
		PK: jobsExpiryPK, SK: jobsExpirySK(id, at), Kind: "job-expiry", JobID: id,
		ExpiresAt: at.UTC(), TTL: at.Add(jobExpiryMarkerGrace).Unix(),
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

func jobsUploadSK(m job.UploadMarker) string {
	return jobsUploadSKPrefix + m.Due.UTC().Truncate(time.Second).Format(jobsExpiryLayout) + "#" + m.Batch
}

func jobsUploadGSI1SK(m job.UploadMarker) string {
	return m.Due.UTC().Truncate(time.Second).Format(jobsExpiryLayout) + "#" + m.JobID + "#" + m.Batch
}

type jobsUploadItem struct {
	PK      string              `dynamodbav:"pk"`
	SK      string              `dynamodbav:"sk"`
	GSI1PK  string              `dynamodbav:"gsi1pk"`
	GSI1SK  string              `dynamodbav:"gsi1sk"`
	Kind    string              `dynamodbav:"kind"`
	JobID   string              `dynamodbav:"job_id"`
	Batch   string              `dynamodbav:"batch"`
	DueAt   time.Time           `dynamodbav:"due_at"`
	Uploads []jobsPendingUpload `dynamodbav:"uploads"`
	TTL     int64               `dynamodbav:"ttl"`
}

type jobsPendingUpload struct {
	ItemID   string `dynamodbav:"item_id"`
	MediaKey string `dynamodbav:"media_key"`
}

// putUploadMarker writes the marker of the pending ones among entries of j, if any. It
// is written before the items, not with them: a transaction holds at most 100 writes,
// and a batch is up to 100 items. A marker whose items were then refused names objects
// nobody can upload (their links were never handed out): the sweep finds nothing.
func (s *Jobs) putUploadMarker(ctx context.Context, j job.Job, entries []job.Entry) error {
	m, ok := job.UploadMarkerFor(j.ID, fmt.Sprintf("%016x", rand.Uint64()), entries)
	if !ok {
		return nil
	}
	it := jobsUploadItem{
		PK: jobsPK(m.JobID), SK: jobsUploadSK(m), GSI1PK: jobsUploadsGSI1PK, GSI1SK: jobsUploadGSI1SK(m),
		Kind: "upload-marker", JobID: m.JobID, Batch: m.Batch, DueAt: m.Due,
		TTL: m.Due.Add(jobExpiryMarkerGrace).Unix(),
	}
	for _, u := range m.Uploads {
		it.Uploads = append(it.Uploads, jobsPendingUpload(u))
	}
	item, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("encode upload marker: %w", err)
	}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
		return fmt.Errorf("put upload marker: %w", err)
	}
	return nil
}

// DueUploads implements job.ExpiryStore with a query of gsi1, eventually consistent: a
// marker written or removed a moment ago may be missed or seen again, which the daily
// sweep's idempotent steps tolerate.
func (s *Jobs) DueUploads(ctx context.Context, now time.Time, limit int) ([]job.UploadMarker, error) {
	var due []job.UploadMarker
	bound := now.UTC().Truncate(time.Second).Format(jobsExpiryLayout) + "$"
	err := queryEach(ctx, s.api, time.Time{}, &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(schema.GSI1.Name),
		KeyConditionExpression: aws.String("gsi1pk = :p AND gsi1sk < :b"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": &types.AttributeValueMemberS{Value: jobsUploadsGSI1PK}, ":b": &types.AttributeValueMemberS{Value: bound},
		},
	}, limit, func(item map[string]types.AttributeValue) error {
		var it jobsUploadItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("decode upload marker: %w", err)
		}
		m := job.UploadMarker{JobID: it.JobID, Due: it.DueAt, Batch: it.Batch}
		for _, u := range it.Uploads {
			m.Uploads = append(m.Uploads, job.PendingUpload(u))
		}
		due = append(due, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list upload markers: %w", err)
	}
	return due, nil
}

// DropPending implements job.ExpiryStore: one conditional delete against CommitEntry's
// conditional put of the same record. When the condition fails, a strongly consistent
// read tells why (the condition failure's own copy of the item is not relied on: the
// local stack's DynamoDB stand-in may not return it, and reading it as "gone" would delete
// a committed image).
func (s *Jobs) DropPending(ctx context.Context, jobID, itemID, key string) (bool, error) {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: Key(jobsPK(jobID), jobsItemSK(itemID)),
		ConditionExpression:      aws.String("#st = :pending AND media_key = :k"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pending": &types.AttributeValueMemberS{Value: string(job.ItemPending)},
			":k":       &types.AttributeValueMemberS{Value: key},
		},
	})
	if err == nil {
		return true, nil
	}
	if !IsConditionFailed(err) {
		return false, fmt.Errorf("drop pending item: %w", err)
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: Key(jobsPK(jobID), jobsItemSK(itemID)), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("media_key"),
	})
	if err != nil {
		return false, fmt.Errorf("read item to drop: %w", err)
	}
	var it struct {
		MediaKey string `dynamodbav:"media_key"`
	}
	if len(out.Item) == 0 {
		return true, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return false, fmt.Errorf("decode item to drop: %w", err)
	}
	// Another key: the id was added again after this upload's item expired. Otherwise the
	// item holds the object, committed (a pending one would have been deleted; keys are
	// never reused, so it cannot be pending again).
	return it.MediaKey != key, nil
}

// DeleteUploadMarker implements job.ExpiryStore.
func (s *Jobs) DeleteUploadMarker(ctx context.Context, m job.UploadMarker) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: Key(jobsPK(m.JobID), jobsUploadSK(m))})
	if err != nil {
		return fmt.Errorf("delete upload marker: %w", err)
	}
	return nil
}
