package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/export"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Exports keeps export records on the labels table and streams a job's labeled items
// into them:
//
//	EXPORT#<id>  EXPORT   one export: customer, job, format, status, row count, object key;
//	                      ttl when its object expires (export.Retention);
//	                      gsi1 CUSTOMER#<customer>#EXPORTS / <created>#<id> (ExportsOf)
//
// Status changes are conditional: queued → running (each run counts an attempt), running
// → done or failed only for the attempt that is running.
type Exports struct {
	api   API
	table string
	// Now is the clock expiry is checked against.
	Now func() time.Time
}

var _ export.Source = (*Exports)(nil)

// NewExports returns the export store on the deployed labels table.
func NewExports(api API, table string) *Exports {
	return &Exports{api: api, table: table, Now: time.Now}
}

const exportSK = "EXPORT"

func exportPK(id string) string { return "EXPORT#" + id }

func exportsOfKey(customerID string) string { return "CUSTOMER#" + customerID + "#EXPORTS" }

type exportItem struct {
	PK          string     `dynamodbav:"pk"`
	SK          string     `dynamodbav:"sk"`
	GSI1PK      string     `dynamodbav:"gsi1pk"`
	GSI1SK      string     `dynamodbav:"gsi1sk"`
	Kind        string     `dynamodbav:"kind"`
	ID          string     `dynamodbav:"id"`
	CustomerID  string     `dynamodbav:"customer_id"`
	JobID       string     `dynamodbav:"job_id"`
	Format      string     `dynamodbav:"format"`
	Status      string     `dynamodbav:"status"`
	MediaBucket string     `dynamodbav:"media_bucket"`
	Key         string     `dynamodbav:"object_key"`
	Rows        int64      `dynamodbav:"rows"`
	Attempt     int        `dynamodbav:"attempt"`
	Error       string     `dynamodbav:"error,omitempty"`
	CreatedAt   time.Time  `dynamodbav:"created_at"`
	StartedAt   *time.Time `dynamodbav:"started_at,omitempty"`
	CompletedAt *time.Time `dynamodbav:"completed_at,omitempty"`
	TTL         int64      `dynamodbav:"ttl"`
}

func (it exportItem) export() export.Export {
	e := export.Export{
		ID: it.ID, CustomerID: it.CustomerID, JobID: it.JobID, Format: export.Format(it.Format), Status: export.Status(it.Status),
		MediaBucket: it.MediaBucket, Key: it.Key, Rows: it.Rows, Attempt: it.Attempt, Error: it.Error, CreatedAt: it.CreatedAt,
		ExpiresAt: time.Unix(it.TTL, 0).UTC(),
	}
	if it.StartedAt != nil {
		e.StartedAt = *it.StartedAt
	}
	if it.CompletedAt != nil {
		e.CompletedAt = *it.CompletedAt
	}
	return e
}

func decodeExport(item map[string]types.AttributeValue) (export.Export, error) {
	var it exportItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return export.Export{}, fmt.Errorf("decode export: %w", err)
	}
	return it.export(), nil
}

// Create stores a new export (export.ErrConflict if the id is taken).
func (s *Exports) Create(ctx context.Context, e export.Export) error {
	if e.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: export without expiry", export.ErrInvalid)
	}
	return putNew(ctx, s.api, s.table, exportItem{
		PK: exportPK(e.ID), SK: exportSK, GSI1PK: exportsOfKey(e.CustomerID), GSI1SK: e.CreatedAt.UTC().Format(time.RFC3339) + "#" + e.ID,
		Kind: "export", ID: e.ID, CustomerID: e.CustomerID, JobID: e.JobID, Format: string(e.Format),
		Status: string(e.Status), MediaBucket: e.MediaBucket, Key: e.Key, CreatedAt: e.CreatedAt.UTC(), TTL: e.ExpiresAt.Unix(),
	}, export.ErrConflict, "export")
}

// Get returns an export (export.ErrNotFound if absent or expired).
func (s *Exports) Get(ctx context.Context, id string) (export.Export, error) {
	var it exportItem
	if err := getDecoded(ctx, s.api, s.table, Key(exportPK(id), exportSK), s.Now(), &it, export.ErrNotFound, "export"); err != nil {
		return export.Export{}, err
	}
	return it.export(), nil
}

// Start marks an export running and counts the attempt: from queued, or from running
// (a run that died without finishing is taken over). export.ErrConflict if it is done
// or failed, export.ErrNotFound if it does not exist or has expired.
func (s *Exports) Start(ctx context.Context, id string, at time.Time) (export.Export, error) {
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: Key(exportPK(id), exportSK),
		UpdateExpression:         aws.String("SET #st = :running, started_at = :t, attempt = attempt + :one REMOVE #err"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND #ttl > :now AND (#st = :queued OR #st = :running)"),
		ExpressionAttributeNames: map[string]string{"#st": "status", "#ttl": "ttl", "#err": "error"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":running": &types.AttributeValueMemberS{Value: string(export.StatusRunning)},
			":queued":  &types.AttributeValueMemberS{Value: string(export.StatusQueued)},
			":t":       &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
			":one":     &types.AttributeValueMemberN{Value: "1"},
			":now":     epoch(s.Now()),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		if len(cf.Item) == 0 || Expired(cf.Item, s.Now()) {
			return export.Export{}, export.ErrNotFound
		}
		return export.Export{}, export.ErrConflict
	}
	if err != nil {
		return export.Export{}, fmt.Errorf("start export: %w", err)
	}
	return decodeExport(out.Attributes)
}

// Finish marks the running attempt's export done with its row count (export.ErrConflict
// if another attempt has started since, or the export is no longer running).
func (s *Exports) Finish(ctx context.Context, id string, attempt int, rows int64, at time.Time) error {
	return s.end(ctx, id, attempt, "SET #st = :to, #rows = :rows, completed_at = :t", "#rows", "rows", map[string]types.AttributeValue{
		":to":   &types.AttributeValueMemberS{Value: string(export.StatusDone)},
		":rows": &types.AttributeValueMemberN{Value: strconv.FormatInt(rows, 10)},
		":t":    &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
	})
}

// Fail marks the running attempt's export failed with a reason the customer may read.
func (s *Exports) Fail(ctx context.Context, id string, attempt int, reason string, at time.Time) error {
	return s.end(ctx, id, attempt, "SET #st = :to, #err = :reason, completed_at = :t", "#err", "error", map[string]types.AttributeValue{
		":to":     &types.AttributeValueMemberS{Value: string(export.StatusFailed)},
		":reason": &types.AttributeValueMemberS{Value: reason},
		":t":      &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
	})
}

// end moves the running attempt's export to its final status; alias names the one
// attribute of update that needs an alias.
func (s *Exports) end(ctx context.Context, id string, attempt int, update, alias, attr string, values map[string]types.AttributeValue) error {
	values[":running"] = &types.AttributeValueMemberS{Value: string(export.StatusRunning)}
	values[":a"] = &types.AttributeValueMemberN{Value: strconv.Itoa(attempt)}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: Key(exportPK(id), exportSK),
		UpdateExpression:          &update,
		ConditionExpression:       aws.String("#st = :running AND attempt = :a"),
		ExpressionAttributeNames:  map[string]string{"#st": "status", alias: attr},
		ExpressionAttributeValues: values,
	})
	if IsConditionFailed(err) {
		return export.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("end export: %w", err)
	}
	return nil
}

// ExportsOf returns a customer's exports, oldest first, leaving out expired ones (for
// privacy requests: one query of gsi1 instead of a scan of the labels table).
func (s *Exports) ExportsOf(ctx context.Context, customerID string) ([]export.Export, error) {
	now := s.Now()
	var out []export.Export
	err := queryEach(ctx, s.api, now, &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(schema.GSI1.Name),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: exportsOfKey(customerID)}},
	}, 0, func(item map[string]types.AttributeValue) error {
		e, err := decodeExport(item)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// exportPage is the page size of the item query: DynamoDB returns at most 1 MB per page
// anyway; a bound keeps memory flat with large items too.
const exportPage = 500

type exportRowItem struct {
	ID          string     `dynamodbav:"id"`
	MediaKey    string     `dynamodbav:"media_key"`
	Text        string     `dynamodbav:"text"`
	Label       string     `dynamodbav:"label"`
	Confidence  float64    `dynamodbav:"confidence"`
	AnswerCount int        `dynamodbav:"answer_count"`
	CompletedAt *time.Time `dynamodbav:"completed_at"`
}

// EachRow implements export.Source: the job's items that consensus completed (gold items
// are the customer's own answers and are left out), in item id order, one query page in
// memory at a time.
func (s *Exports) EachRow(ctx context.Context, jobID string, fn func(export.Row) error) error {
	now := s.Now()
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :p AND begins_with(sk, :i)"),
		FilterExpression:       aws.String("#st = :done AND gold = :false AND attribute_exists(#lb)"),
		ProjectionExpression:   aws.String("id, media_key, #txt, #lb, confidence, answer_count, completed_at, #ttl"),
		ExpressionAttributeNames: map[string]string{
			"#st": "status", "#lb": "label", "#txt": "text", "#ttl": "ttl",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p":     &types.AttributeValueMemberS{Value: jobsPK(jobID)},
			":i":     &types.AttributeValueMemberS{Value: jobsItemSK("")},
			":done":  &types.AttributeValueMemberS{Value: string(job.ItemDone)},
			":false": &types.AttributeValueMemberBOOL{Value: false},
		},
		Limit: aws.Int32(exportPage),
	}
	return queryEach(ctx, s.api, now, in, 0, func(item map[string]types.AttributeValue) error {
		var it exportRowItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("decode item: %w", err)
		}
		r := export.Row{ItemID: it.ID, MediaKey: it.MediaKey, Text: it.Text, Label: it.Label, Confidence: it.Confidence, Answers: it.AnswerCount}
		if it.CompletedAt != nil {
			r.CompletedAt = *it.CompletedAt
		}
		return fn(r)
	})
}
