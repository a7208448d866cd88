package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/job"
)

// The customer jobs API's side of Jobs (job.Store), on the layout described in jobs.go.
// Items the API adds carry a few more attributes than PutItems writes: the known answer
// of a holdout item, the announced upload type and size and the creation time; it reads
// the consensus label and confidence that the consensus store (consensus.go) writes on
// the same record. A pending upload's item has status
// "pending", no gsi1 keys (so the pool never sees it) and a ttl of its own.
var _ job.Store = (*Jobs)(nil)

type jobsEntryItem struct {
	jobsItemItem
	Holdout     string     `dynamodbav:"holdout_label,omitempty"`
	ContentType string     `dynamodbav:"content_type,omitempty"`
	Size        int64      `dynamodbav:"size,omitempty"`
	Label       string     `dynamodbav:"label,omitempty"`
	Confidence  float64    `dynamodbav:"confidence,omitempty"`
	CreatedAt   *time.Time `dynamodbav:"created_at,omitempty"`
}

func (it jobsEntryItem) entry() job.Entry {
	e := job.Entry{
		Item: it.item(), Holdout: it.Holdout, ContentType: it.ContentType, Size: it.Size,
		Label: it.Label, Confidence: it.Confidence,
	}
	if it.CreatedAt != nil {
		e.CreatedAt = *it.CreatedAt
	}
	if it.Status == string(job.ItemPending) && it.TTL > 0 {
		e.ExpiresAt = time.Unix(it.TTL, 0).UTC()
	}
	return e
}

func decodeEntry(item map[string]types.AttributeValue) (job.Entry, error) {
	var it jobsEntryItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return job.Entry{}, fmt.Errorf("decode item: %w", err)
	}
	return it.entry(), nil
}

// transact writes ops in one transaction; a lost race (a failed condition or a concurrent
// transaction) is job.ErrConflict.
func (s *Jobs) transact(ctx context.Context, ops []types.TransactWriteItem, what string) error {
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	if isLostRace(err) {
		return job.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// CreateJob implements job.Store: the job and (when active) its pool entry in one
// transaction, refused with job.ErrConflict if the id is taken.
func (s *Jobs) CreateJob(ctx context.Context, j job.Job) error {
	return s.createJob(ctx, j)
}

// jobsKeyPK is the partition of a create's idempotency key (job.CreateKey, a hash).
func jobsKeyPK(key string) string { return "JOBKEY#" + key }

const jobsKeySK = "JOBKEY"

// jobsKeyItem records which job a create's idempotency key made, until its ttl. It holds
// the key's hash and the job id only: no customer id, so it names nobody.
type jobsKeyItem struct {
	PK    string `dynamodbav:"pk"`
	SK    string `dynamodbav:"sk"`
	Kind  string `dynamodbav:"kind"`
	JobID string `dynamodbav:"job_id"`
	TTL   int64  `dynamodbav:"ttl"`
}

// CreateJobOnce implements job.Store: CreateJob's transaction with the key's record, new
// or replacing an expired one, so of two requests with one key exactly one creates.
func (s *Jobs) CreateJobOnce(ctx context.Context, j job.Job, key string, until time.Time) error {
	item, err := attributevalue.MarshalMap(jobsKeyItem{PK: jobsKeyPK(key), SK: jobsKeySK, Kind: "job-key", JobID: j.ID, TTL: until.Unix()})
	if err != nil {
		return fmt.Errorf("encode job key: %w", err)
	}
	return s.createJob(ctx, j, types.TransactWriteItem{Put: putNewOrExpired(s.table, item, time.Now())})
}

// JobOfKey implements job.Store.
func (s *Jobs) JobOfKey(ctx context.Context, key string) (string, error) {
	var it jobsKeyItem
	if err := getDecoded(ctx, s.api, s.table, Key(jobsKeyPK(key), jobsKeySK), time.Now(), &it, job.ErrNotFound, "job key"); err != nil {
		return "", err
	}
	return it.JobID, nil
}

func (s *Jobs) createJob(ctx context.Context, j job.Job, also ...types.TransactWriteItem) error {
	j = j.Normalize()
	if err := j.Validate(); err != nil {
		return err
	}
	item, err := jobItem(j)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{{Put: putNewOrExpired(s.table, item, time.Now())}}
	if j.Status == job.StatusActive { // a new job has no pool entry to remove
		pool, err := s.poolOp(j)
		if err != nil {
			return err
		}
		ops = append(ops, pool)
	}
	marker, err := s.expiryPut(j)
	if err != nil {
		return err
	}
	if marker != nil {
		ops = append(ops, *marker)
	}
	return s.transact(ctx, append(ops, also...), "create job")
}

// ChangeStatus implements job.Store: the job's status changes only if it is still from,
// and its pool entry is written (to active) or removed (otherwise) in the same transaction.
func (s *Jobs) ChangeStatus(ctx context.Context, id string, from, to job.Status) error {
	j, err := s.GetJob(ctx, id)
	if err != nil {
		return err
	}
	j.Status = to
	pool, err := s.poolOp(j)
	if err != nil {
		return err
	}
	return s.transact(ctx, []types.TransactWriteItem{{Update: &types.Update{
		TableName: &s.table, Key: Key(jobsPK(id), jobsSK),
		UpdateExpression:         aws.String("SET #st = :to"),
		ConditionExpression:      aws.String("#st = :from"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to":   &types.AttributeValueMemberS{Value: string(to)},
			":from": &types.AttributeValueMemberS{Value: string(from)},
		},
	}}, pool}, "change job status")
}

// entryRecord is the stored form of an entry of j.
func entryRecord(j job.Job, e job.Entry) jobsEntryItem {
	rec := jobsEntryItem{
		jobsItemItem: jobsItemItem{
			PK: jobsPK(j.ID), SK: jobsItemSK(e.ID), Kind: "item", JobID: j.ID, ID: e.ID, MediaKey: e.MediaKey, Text: e.Text,
			Gold: e.Gold, GoldLabel: e.GoldLabel, Status: string(e.Status), AnswerCount: e.AnswerCount,
			Shuffle: jobsShuffle(), TTL: jobsTTL(j),
		},
		Holdout: e.Holdout, ContentType: e.ContentType, Size: e.Size, Label: e.Label, Confidence: e.Confidence,
	}
	if !e.CreatedAt.IsZero() {
		t := e.CreatedAt.UTC()
		rec.CreatedAt = &t
	}
	if e.Status == job.ItemPending {
		// Forgotten unless committed; never outlives the job.
		if ttl := chalTTLSeconds(e.ExpiresAt); !e.ExpiresAt.IsZero() && (rec.TTL == 0 || ttl < rec.TTL) {
			rec.TTL = ttl
		}
	} else {
		rec.GSI1PK, rec.GSI1SK = jobsItemPool(rec.jobsItemItem)
	}
	return rec
}

// AddEntries implements job.Store with one transaction (job.MaxBatch ≤ 100, DynamoDB's
// limit): every item is new (or replaces an expired one) or none is written. The upload
// marker of pending items is written first (putUploadMarker).
func (s *Jobs) AddEntries(ctx context.Context, j job.Job, entries []job.Entry) error {
	if len(entries) > 100 {
		return fmt.Errorf("%w: %d items in one batch (at most 100)", job.ErrInvalid, len(entries))
	}
	now := time.Now()
	ops := make([]types.TransactWriteItem, 0, len(entries))
	for _, e := range entries {
		item, err := attributevalue.MarshalMap(entryRecord(j, e))
		if err != nil {
			return fmt.Errorf("encode item: %w", err)
		}
		ops = append(ops, types.TransactWriteItem{Put: putNewOrExpired(s.table, item, now)})
	}
	if len(ops) == 0 {
		return nil
	}
	if err := s.putUploadMarker(ctx, j, entries); err != nil {
		return err
	}
	return s.transact(ctx, ops, "add items")
}

// GetEntry implements job.Store.
func (s *Jobs) GetEntry(ctx context.Context, jobID, itemID string) (job.Entry, error) {
	var it jobsEntryItem
	if err := getDecoded(ctx, s.api, s.table, Key(jobsPK(jobID), jobsItemSK(itemID)), time.Now(), &it, job.ErrNotFound, "item"); err != nil {
		return job.Entry{}, err
	}
	return it.entry(), nil
}

func (s *Jobs) itemsQuery(jobID string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :p AND begins_with(sk, :i)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": &types.AttributeValueMemberS{Value: jobsPK(jobID)},
			":i": &types.AttributeValueMemberS{Value: jobsItemSK("")},
		},
	}
}

// ListEntries implements job.Store: one strongly consistent query from after, skipping
// expired records; a page is full unless it is the last.
func (s *Jobs) ListEntries(ctx context.Context, jobID, after string, limit int) ([]job.Entry, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("%w: page size %d", job.ErrInvalid, limit)
	}
	in := s.itemsQuery(jobID)
	in.ConsistentRead = aws.Bool(true)
	if after != "" {
		// A key condition rather than an ExclusiveStartKey: the cursor's item may have been
		// removed since, and the local stack's minidyn starts only after a key that exists.
		// Bounded above ("ITEM$" follows every "ITEM#…"): past the items come the job record
		// and its upload markers, a query per marker on a full last page. The cursor's own
		// item, if still there, is skipped below.
		in.KeyConditionExpression = aws.String("pk = :p AND sk BETWEEN :i AND :end")
		in.ExpressionAttributeValues[":i"] = &types.AttributeValueMemberS{Value: jobsItemSK(after)}
		in.ExpressionAttributeValues[":end"] = &types.AttributeValueMemberS{Value: "ITEM$"}
	}
	now := time.Now()
	var entries []job.Entry
	// One more than asked for tells whether there is a next page; the first query may
	// also return the cursor's item.
	extra := 1
	if after != "" {
		extra = 2
	}
	for {
		in.Limit = aws.Int32(int32(limit + extra - len(entries)))
		extra = 1
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list items: %w", err)
		}
		for _, item := range out.Items {
			if sk, _ := item["sk"].(*types.AttributeValueMemberS); Expired(item, now) || sk == nil || !strings.HasPrefix(sk.Value, jobsItemSK("")) || after != "" && sk.Value == jobsItemSK(after) {
				continue
			}
			e, err := decodeEntry(item)
			if err != nil {
				return nil, "", err
			}
			entries = append(entries, e)
		}
		if len(entries) > limit {
			entries = entries[:limit]
			return entries, entries[limit-1].ID, nil
		}
		if len(out.LastEvaluatedKey) == 0 {
			return entries, "", nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// EachEntry implements job.Store (eventually consistent pages: progress may lag a write
// by a moment).
func (s *Jobs) EachEntry(ctx context.Context, jobID string, fn func(job.Entry) error) error {
	now := time.Now()
	return queryEach(ctx, s.api, now, s.itemsQuery(jobID), 0, func(item map[string]types.AttributeValue) error {
		e, err := decodeEntry(item)
		if err != nil {
			return err
		}
		return fn(e)
	})
}

// CommitEntry implements job.Store: a pending item becomes open (gold items join the gold
// pool, others the open pool) and takes the job's ttl, only while it is still pending,
// unexpired and holds mediaKey.
func (s *Jobs) CommitEntry(ctx context.Context, j job.Job, itemID, mediaKey string) error {
	cur, err := s.GetEntry(ctx, j.ID, itemID)
	if err != nil {
		return err
	}
	if cur.MediaKey != mediaKey {
		// The id was added again after the checked item expired.
		return job.ErrNotFound
	}
	if cur.Status != job.ItemPending {
		return job.ErrConflict
	}
	cur.Status = job.ItemOpen
	// The whole record is written again rather than updated: the local stack's DynamoDB
	// stand-in (minidyn) does not maintain a GSI when an UpdateItem adds its keys, and the
	// item must join the pool's index.
	item, err := attributevalue.MarshalMap(entryRecord(j, cur))
	if err != nil {
		return fmt.Errorf("encode item: %w", err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: item,
		// media_key: the item may have expired and been added again, with a new key, since
		// it was read.
		ConditionExpression:      aws.String("#st = :pending AND #ttl > :now AND media_key = :k"),
		ExpressionAttributeNames: map[string]string{"#st": "status", "#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pending": &types.AttributeValueMemberS{Value: string(job.ItemPending)},
			":now":     epoch(time.Now()),
			":k":       &types.AttributeValueMemberS{Value: mediaKey},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		k, _ := cf.Item["media_key"].(*types.AttributeValueMemberS)
		if len(cf.Item) == 0 || Expired(cf.Item, time.Now()) || k == nil || k.Value != mediaKey {
			return job.ErrNotFound
		}
		return job.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("commit item: %w", err)
	}
	return nil
}

// DeleteEntry implements job.Store.
func (s *Jobs) DeleteEntry(ctx context.Context, jobID, itemID string) error {
	if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: Key(jobsPK(jobID), jobsItemSK(itemID))}); err != nil {
		return fmt.Errorf("delete item: %w", err)
	}
	return nil
}

// DeleteEntries implements job.Store: one query of at most limit keys, deleted 25 per
// batch; once no item is left, the job's upload markers the same way, within what is left
// of limit.
func (s *Jobs) DeleteEntries(ctx context.Context, jobID string, limit int) (int, bool, error) {
	n, more, err := deleteQueried(ctx, s.api, s.itemsQuery(jobID), limit)
	if err != nil || more || n >= limit {
		return n, more || n >= limit, err
	}
	markers := s.itemsQuery(jobID)
	markers.ExpressionAttributeValues[":i"] = &types.AttributeValueMemberS{Value: jobsUploadSKPrefix}
	_, more, err = deleteQueried(ctx, s.api, markers, limit-n)
	return n, more, err
}

// DeleteJob implements job.Store: the job record and its pool entry, and the expiry
// marker of the deletion in the same transaction if the record is there and its ttl has
// not come. A failed condition means the job is gone or expired: its record, if any, and
// its pool entry are then deleted without a marker.
func (s *Jobs) DeleteJob(ctx context.Context, id string) error {
	now := time.Now().UTC().Truncate(time.Second)
	marker, err := s.markerPut(id, now)
	if err != nil {
		return err
	}
	pool := types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: Key(jobsPoolPK, jobsPK(id))}}
	_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName: &s.table, Key: Key(jobsPK(id), jobsSK),
			ConditionExpression:      aws.String("attribute_exists(pk) AND (attribute_not_exists(#ttl) OR #ttl > :now)"),
			ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)},
			},
		}},
		pool, *marker,
	}})
	if IsConditionFailed(err) {
		_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &s.table, Key: Key(jobsPK(id), jobsSK)}}, pool,
		}})
	}
	if err != nil {
		return fmt.Errorf("delete job: %w", err)
	}
	return nil
}
