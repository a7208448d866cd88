package dynamo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/web"
)

// Jobs stores labeling jobs and their items on the labels table. Layout:
//
//	JOB#<id>  JOB          the job; gsi1 CUSTOMER#<customer>#JOBS / <created>#<id>
//	POOL      JOB#<id>     a copy of each ACTIVE job: the pool reads them in one query
//	JOB#<id>  ITEM#<item>  an item; while it can be drawn into challenges it is also in
//	                       gsi1 POOL#<job>#gold or POOL#<job>#open / <shuffle>#<item>,
//	                       where shuffle is random so a range from a random point is a
//	                       random sample
//	JOBKEY#<hash>  JOBKEY  the job a create's idempotency key made (job.CreateKey; ttl
//	                       job.CreateKeyTTL)
//
// Jobs and items are customer data: they carry a ttl only when the job has an ExpiresAt,
// otherwise they stay until the customer deletes the job. Reads skip expired records.
type Jobs struct {
	api   API
	table string
}

// NewJobs returns the job store on the deployed labels table.
func NewJobs(api API, table string) *Jobs { return &Jobs{api: api, table: table} }

const (
	jobsSK       = "JOB"
	jobsPoolPK   = "POOL"
	jobsGoldPool = "gold"
	jobsOpenPool = "open"
)

func jobsPK(id string) string               { return "JOB#" + id }
func jobsItemSK(id string) string           { return "ITEM#" + id }
func jobsPoolKey(jobID, pool string) string { return "POOL#" + jobID + "#" + pool }

type jobsItem struct {
	PK         string              `dynamodbav:"pk"`
	SK         string              `dynamodbav:"sk"`
	GSI1PK     string              `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK     string              `dynamodbav:"gsi1sk,omitempty"`
	Kind       string              `dynamodbav:"kind"`
	ID         string              `dynamodbav:"id"`
	CustomerID string              `dynamodbav:"customer_id"`
	Name       string              `dynamodbav:"name"`
	JobKind    string              `dynamodbav:"job_kind"`
	Question   map[string]string   `dynamodbav:"question"`
	Classes    []string            `dynamodbav:"classes"`
	ClassNames map[string][]string `dynamodbav:"class_names,omitempty"`
	ItemLang   string              `dynamodbav:"item_lang,omitempty"`
	Priority   int                 `dynamodbav:"priority"`
	Status     string              `dynamodbav:"status"`
	MinAnswers int                 `dynamodbav:"min_answers"`
	MaxAnswers int                 `dynamodbav:"max_answers"`
	Target     float64             `dynamodbav:"target"`
	CreatedAt  time.Time           `dynamodbav:"created_at"`
	ExpiresAt  *time.Time          `dynamodbav:"expires_at,omitempty"`
	TTL        int64               `dynamodbav:"ttl,omitempty"`
}

type jobsItemItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	GSI1PK      string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK      string `dynamodbav:"gsi1sk,omitempty"`
	Kind        string `dynamodbav:"kind"`
	JobID       string `dynamodbav:"job_id"`
	ID          string `dynamodbav:"id"`
	MediaKey    string `dynamodbav:"media_key,omitempty"`
	Text        string `dynamodbav:"text,omitempty"`
	Gold        bool   `dynamodbav:"gold"`
	GoldLabel   string `dynamodbav:"gold_label,omitempty"`
	Status      string `dynamodbav:"status"`
	AnswerCount int    `dynamodbav:"answer_count"`
	Shuffle     string `dynamodbav:"shuffle"`
	TTL         int64  `dynamodbav:"ttl,omitempty"`
}

func jobsTTL(j job.Job) int64 {
	if j.ExpiresAt.IsZero() {
		return 0
	}
	return chalTTLSeconds(j.ExpiresAt)
}

func jobsRecord(j job.Job, pk, sk string) jobsItem {
	it := jobsItem{
		PK: pk, SK: sk, Kind: "job", ID: j.ID, CustomerID: j.CustomerID, Name: j.Name, JobKind: string(j.Kind),
		Question: j.Question, Classes: j.Classes, ClassNames: j.ClassNames, ItemLang: j.ItemLang, Priority: j.Priority, Status: string(j.Status),
		MinAnswers: j.MinAnswers, MaxAnswers: j.MaxAnswers, Target: j.Target, CreatedAt: j.CreatedAt.UTC(), TTL: jobsTTL(j),
	}
	if !j.ExpiresAt.IsZero() {
		t := j.ExpiresAt.UTC()
		it.ExpiresAt = &t
	}
	return it
}

func (it jobsItem) job() job.Job {
	j := job.Job{
		ID: it.ID, CustomerID: it.CustomerID, Name: it.Name, Kind: job.Kind(it.JobKind), Question: it.Question,
		Classes: it.Classes, ClassNames: it.ClassNames, ItemLang: it.ItemLang, Priority: it.Priority, Status: job.Status(it.Status),
		MinAnswers: it.MinAnswers, MaxAnswers: it.MaxAnswers, Target: it.Target, CreatedAt: it.CreatedAt,
	}
	if it.ExpiresAt != nil {
		j.ExpiresAt = *it.ExpiresAt
	}
	return j
}

// jobItem is the stored job record of j, listed in its customer's gsi1 partition.
func jobItem(j job.Job) (map[string]types.AttributeValue, error) {
	rec := jobsRecord(j, jobsPK(j.ID), jobsSK)
	rec.GSI1PK = "CUSTOMER#" + j.CustomerID + "#JOBS"
	rec.GSI1SK = jobsListSK(j.Position())
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	return item, nil
}

// poolOp keeps j's pool entry in step with its status: written while j is active, removed
// otherwise.
func (s *Jobs) poolOp(j job.Job) (types.TransactWriteItem, error) {
	if j.Status != job.StatusActive {
		return types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: Key(jobsPoolPK, jobsPK(j.ID))}}, nil
	}
	entry, err := attributevalue.MarshalMap(jobsRecord(j, jobsPoolPK, jobsPK(j.ID)))
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("encode pool entry: %w", err)
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: entry}}, nil
}

// PutJob validates and stores a job (create or replace) and keeps its pool entry in step
// with its status, in one transaction.
func (s *Jobs) PutJob(ctx context.Context, j job.Job) error {
	j = j.Normalize()
	if err := j.Validate(); err != nil {
		return err
	}
	item, err := jobItem(j)
	if err != nil {
		return err
	}
	pool, err := s.poolOp(j)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{{Put: &types.Put{TableName: &s.table, Item: item}}, pool}
	if _, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops}); err != nil {
		return fmt.Errorf("put job: %w", err)
	}
	return nil
}

// GetJob returns a job (job.ErrNotFound if absent or expired).
func (s *Jobs) GetJob(ctx context.Context, id string) (job.Job, error) {
	var it jobsItem
	if err := getDecoded(ctx, s.api, s.table, Key(jobsPK(id), jobsSK), time.Now(), &it, job.ErrNotFound, "job"); err != nil {
		return job.Job{}, err
	}
	return it.job(), nil
}

// jobsListSK is a job's gsi1 sort key in its customer's listing: the creation second
// (RFC 3339, fixed width) and the id, so that the index's order is the listing's
// (job.JobPosition; "#" sorts before every character an id may have).
func jobsListSK(p job.JobPosition) string {
	return p.Created.UTC().Format(time.RFC3339) + "#" + p.ID
}

// ListJobs implements job.Store: a page of the customer's jobs from gsi1, after after.
// Expired jobs DynamoDB has not deleted yet are left out, as GetJob leaves them out.
func (s *Jobs) ListJobs(ctx context.Context, customerID string, after job.JobPosition, limit int) ([]job.Job, bool, error) {
	if limit < 1 {
		return nil, false, fmt.Errorf("%w: page size %d", job.ErrInvalid, limit)
	}
	in := &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(schema.GSI1.Name),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "CUSTOMER#" + customerID + "#JOBS"}},
	}
	if after != (job.JobPosition{}) {
		// A key condition rather than an ExclusiveStartKey: the job the position names may
		// have been deleted since (see ListEntries).
		in.KeyConditionExpression = aws.String("gsi1pk = :p AND gsi1sk > :a")
		in.ExpressionAttributeValues[":a"] = &types.AttributeValueMemberS{Value: jobsListSK(after)}
	}
	now := time.Now()
	var jobs []job.Job
	for {
		// One more than asked for tells whether there is a next page.
		in.Limit = aws.Int32(int32(limit + 1 - len(jobs)))
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("list jobs: %w", err)
		}
		for _, item := range out.Items {
			if Expired(item, now) {
				continue
			}
			var it jobsItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, false, fmt.Errorf("decode job: %w", err)
			}
			jobs = append(jobs, it.job())
		}
		if len(jobs) > limit {
			return jobs[:limit], true, nil
		}
		if len(out.LastEvaluatedKey) == 0 {
			return jobs, false, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// listJobs lists the customer's jobs whose ttl has not passed at now; the zero now lists
// every job still stored (a privacy request must reach expired, unswept jobs too).
func (s *Jobs) listJobs(ctx context.Context, customerID string, now time.Time) ([]job.Job, error) {
	var jobs []job.Job
	err := queryEach(ctx, s.api, now, &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(schema.GSI1.Name),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "CUSTOMER#" + customerID + "#JOBS"}},
	}, 0, func(item map[string]types.AttributeValue) error {
		var it jobsItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("decode job: %w", err)
		}
		jobs = append(jobs, it.job())
		return nil
	})
	return jobs, err
}

// SetJobStatus pauses or activates a job. (Read-modify-write: of two concurrent status
// changes the last one wins, which is what a customer toggling a job expects.)
func (s *Jobs) SetJobStatus(ctx context.Context, id string, status job.Status) error {
	j, err := s.GetJob(ctx, id)
	if err != nil {
		return err
	}
	j.Status = status
	return s.PutJob(ctx, j)
}

// PutItems validates and stores items of job j (create or replace), 25 per batch.
func (s *Jobs) PutItems(ctx context.Context, j job.Job, items ...job.Item) error {
	reqs := make([]types.WriteRequest, 0, len(items))
	for _, it := range items {
		if it.Status == "" {
			it.Status = job.ItemOpen
		}
		if err := j.ValidateItem(it); err != nil {
			return err
		}
		rec := jobsItemItem{
			PK: jobsPK(j.ID), SK: jobsItemSK(it.ID), Kind: "item", JobID: j.ID, ID: it.ID, MediaKey: it.MediaKey, Text: it.Text,
			Gold: it.Gold, GoldLabel: it.GoldLabel, Status: string(it.Status), AnswerCount: it.AnswerCount,
			Shuffle: jobsShuffle(), TTL: jobsTTL(j),
		}
		rec.GSI1PK, rec.GSI1SK = jobsItemPool(rec)
		item, err := attributevalue.MarshalMap(rec)
		if err != nil {
			return fmt.Errorf("encode item: %w", err)
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	for start := 0; start < len(reqs); start += 25 {
		if err := writeBatch(ctx, s.api, s.table, reqs[start:min(start+25, len(reqs))], "write items"); err != nil {
			return err
		}
	}
	return nil
}

// jobsItemPool is the gsi1 key of an item that can be drawn: gold items always, others
// while open. Done items leave the index.
func jobsItemPool(it jobsItemItem) (string, string) {
	switch {
	case it.Gold:
		return jobsPoolKey(it.JobID, jobsGoldPool), it.Shuffle + "#" + it.ID
	case it.Status == string(job.ItemOpen):
		return jobsPoolKey(it.JobID, jobsOpenPool), it.Shuffle + "#" + it.ID
	}
	return "", ""
}

func jobsShuffle() string { return randHex(8) }

// GetItem returns an item (job.ErrNotFound if absent or expired).
func (s *Jobs) GetItem(ctx context.Context, jobID, itemID string) (job.Item, error) {
	it, err := s.getItem(ctx, jobID, itemID)
	if err != nil {
		return job.Item{}, err
	}
	return it.item(), nil
}

func (s *Jobs) getItem(ctx context.Context, jobID, itemID string) (jobsItemItem, error) {
	var it jobsItemItem
	if err := getDecoded(ctx, s.api, s.table, Key(jobsPK(jobID), jobsItemSK(itemID)), time.Now(), &it, job.ErrNotFound, "item"); err != nil {
		return jobsItemItem{}, err
	}
	return it, nil
}

func (it jobsItemItem) item() job.Item {
	return job.Item{
		JobID: it.JobID, ID: it.ID, MediaKey: it.MediaKey, Text: it.Text, Gold: it.Gold, GoldLabel: it.GoldLabel,
		Status: job.ItemStatus(it.Status), AnswerCount: it.AnswerCount,
	}
}

// SetItemStatus marks an item done (it leaves the pool) or open again, with its answer
// count. job.ErrNotFound if the item does not exist.
func (s *Jobs) SetItemStatus(ctx context.Context, jobID, itemID string, status job.ItemStatus, answers int) error {
	if status != job.ItemOpen && status != job.ItemDone {
		return fmt.Errorf("%w: item status %q", job.ErrInvalid, status)
	}
	it, err := s.getItem(ctx, jobID, itemID)
	if err != nil {
		return err
	}
	it.Status = string(status)
	gpk, gsk := jobsItemPool(it)
	values := map[string]types.AttributeValue{
		":s": &types.AttributeValueMemberS{Value: string(status)},
		":n": &types.AttributeValueMemberN{Value: fmt.Sprint(answers)},
	}
	update := "SET #st = :s, answer_count = :n"
	if gpk == "" {
		update += " REMOVE gsi1pk, gsi1sk"
	} else {
		update += ", gsi1pk = :gpk, gsi1sk = :gsk"
		values[":gpk"] = &types.AttributeValueMemberS{Value: gpk}
		values[":gsk"] = &types.AttributeValueMemberS{Value: gsk}
	}
	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: Key(jobsPK(jobID), jobsItemSK(itemID)),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: values,
	})
	if IsConditionFailed(err) {
		return job.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("update item: %w", err)
	}
	return nil
}

// Stocks reads the active jobs and a random sample of up to perJob gold and perJob open
// items of each. With more than maxJobs active jobs, maxJobs of them are sampled
// uniformly (jobsSample).
func (s *Jobs) Stocks(ctx context.Context, perJob, maxJobs int) ([]job.Stock, error) {
	now := time.Now()
	var jobs []job.Job
	err := queryEach(ctx, s.api, now, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: jobsPoolPK}},
	}, 0, func(item map[string]types.AttributeValue) error {
		var it jobsItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("decode pool entry: %w", err)
		}
		if j := it.job(); j.Status == job.StatusActive {
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	jobs = jobsSample(jobs, maxJobs)
	stocks := make([]job.Stock, 0, len(jobs))
	for _, j := range jobs {
		st := job.Stock{Job: j}
		if st.Gold, err = s.sample(ctx, jobsPoolKey(j.ID, jobsGoldPool), perJob, now); err != nil {
			return nil, err
		}
		if st.Open, err = s.sample(ctx, jobsPoolKey(j.ID, jobsOpenPool), perJob, now); err != nil {
			return nil, err
		}
		stocks = append(stocks, st)
	}
	return stocks, nil
}

// jobsSample keeps at most n jobs, drawn uniformly without replacement. The catalog built
// from them weighs jobs by priority when it draws; a sample weighted by priority too would
// weigh them by about its square. Instances refresh their sample every 30 s, so every job
// takes its share over time.
func jobsSample(jobs []job.Job, n int) []job.Job {
	if n <= 0 || len(jobs) <= n {
		return jobs
	}
	out := slices.Clone(jobs)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:n]
}

// sample reads up to n items of one gsi1 pool, starting at a random point and wrapping.
func (s *Jobs) sample(ctx context.Context, pool string, n int, now time.Time) ([]job.Item, error) {
	start := jobsShuffle()
	var items []job.Item
	collect := func(item map[string]types.AttributeValue) error {
		var it jobsItemItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("decode item: %w", err)
		}
		items = append(items, it.item())
		return nil
	}
	for _, cond := range []string{"gsi1pk = :p AND gsi1sk >= :s", "gsi1pk = :p AND gsi1sk < :s"} {
		if len(items) >= n {
			break
		}
		err := queryEach(ctx, s.api, now, &dynamodb.QueryInput{
			TableName: &s.table, IndexName: aws.String(schema.GSI1.Name),
			KeyConditionExpression: aws.String(cond),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":p": &types.AttributeValueMemberS{Value: pool},
				":s": &types.AttributeValueMemberS{Value: start},
			},
		}, n-len(items), collect)
		if err != nil {
			return nil, err
		}
	}
	return items, nil
}

// JobPool is the job.Pool that challenges draw from. Reading the labels table on every
// challenge would cost several queries per visitor, so each Lambda instance keeps a
// catalog of the active jobs and a random sample of their items, refreshed every Refresh
// (30 s). The trade-off: a job paused or an item finished is still drawn for up to that
// long (a few surplus answers, which consensus ignores or absorbs), a new job or item
// appears that much later, and an instance shows only its sample of a large job's items
// until the next refresh (different instances and refreshes sample differently).
type JobPool struct {
	jobs *Jobs
	// Refresh is the catalog's lifetime; PerJob and MaxJobs bound the sample.
	Refresh time.Duration
	PerJob  int
	MaxJobs int

	mu       sync.Mutex
	cat      *job.Catalog
	loadedAt time.Time
	failedAt time.Time
}

var _ job.Pool = (*JobPool)(nil)

// NewJobPool returns a pool over jobs with the default refresh (30 s) and sample sizes
// (200 gold and 200 open items per job, at most 50 jobs).
func NewJobPool(jobs *Jobs) *JobPool {
	return &JobPool{jobs: jobs, Refresh: 30 * time.Second, PerJob: 200, MaxJobs: 50}
}

// Draw implements job.Pool.
func (p *JobPool) Draw(ctx context.Context, req job.Request) (job.Draw, error) {
	cat, err := p.catalog(ctx)
	if err != nil {
		return job.Draw{}, err
	}
	return cat.Draw(ctx, req)
}

// Invalidate makes the next Draw reload the catalog (after seeding, in tests).
func (p *JobPool) Invalidate() {
	p.mu.Lock()
	p.loadedAt = time.Time{}
	p.mu.Unlock()
}

func (p *JobPool) catalog(ctx context.Context) (*job.Catalog, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	fresh := p.cat != nil && now.Sub(p.loadedAt) < p.Refresh
	// After a failed refresh the old catalog is served for a few seconds before retrying,
	// so a DynamoDB hiccup does not stop challenges.
	retrying := p.cat != nil && now.Sub(p.failedAt) < 5*time.Second
	if fresh || retrying {
		return p.cat, nil
	}
	stocks, err := p.jobs.Stocks(ctx, p.PerJob, p.MaxJobs)
	if err != nil {
		if p.cat == nil {
			return nil, fmt.Errorf("load job pool: %w", err)
		}
		p.failedAt = now
		web.Logger(ctx).WarnContext(ctx, "job pool refresh failed; serving the previous catalog", "err", err)
		return p.cat, nil
	}
	p.cat, p.loadedAt = job.NewCatalog(stocks), now
	return p.cat, nil
}
