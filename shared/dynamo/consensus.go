package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/consensus"
	"github.com/crowdgate/crowdgate/shared/job"
	"github.com/crowdgate/crowdgate/shared/platform"
)

// Consensus keeps the state of label consensus (shared/consensus) on the labels table,
// next to the jobs and items of jobs.go:
//
//	JOB#<job>   ITEM#<item>      the item record (jobs.go) carries its consensus too:
//	                             consensus (JSON: one consensus.ItemState per class asked
//	                             about), cons_version, and the result the customer API
//	                             shows — label, confidence, answer_count, status,
//	                             completed_at. A done item leaves the challenge pool.
//	CONS#<job>  JOB              the job's class counts c0…c<k-1> (the class prior); ttl
//	CONS#<job>  ANS#<answerer>   one answerer's state (per job and day); ttl
//
// The item record is customer data and keeps the job's ttl. The class counts are derived
// (re-estimation rebuilds them), so their ttl is renewed on every write; answerer states
// live a few days, since the answerer is a daily pseudonym.
//
// Writes of items and answerers are conditioned on a version that every write increments,
// so two consumers never overwrite each other; class counts and other answerers' soft
// counts change by atomic arithmetic, which commutes and needs no read.
type Consensus struct {
	api   BatchAPI
	table string
	// Now is the clock expiry is checked against.
	Now func() time.Time
}

// NewConsensus returns the consensus store on the deployed labels table.
func NewConsensus(api BatchAPI, table string) *Consensus {
	return &Consensus{api: api, table: table, Now: time.Now}
}

const (
	consJobSK        = "JOB"
	consAnswererPref = "ANS#"
)

func consPK(jobID string) string { return "CONS#" + jobID }

// ConsensusItem is an item record as consensus reads and writes it.
type ConsensusItem struct {
	ID     string
	Gold   bool
	Status job.ItemStatus
	// Version is the consensus version read (0 before the item's first answer); a write
	// succeeds only if the record still has it.
	Version int64
	// Questions holds the state of each yes/no question asked about the item, by class.
	Questions map[string]consensus.ItemState
	// Result is what the customer API shows (label, confidence, answer count, status).
	Result      job.Result
	CompletedAt time.Time
}

// ConsensusSnapshot is everything one answers message touches.
type ConsensusSnapshot struct {
	Job      consensus.JobState
	Answerer consensus.AnswererState
	// Items holds the items that exist (and have not expired), by id.
	Items map[string]ConsensusItem
}

// Load reads, in one strongly consistent batch, the job's class counts, one answerer's
// state and the named items, for a k-class model. Missing (or expired) class counts and
// answerers come back empty; an expired answerer keeps its stored Version so that writing
// it back replaces it.
func (s *Consensus) Load(ctx context.Context, jobID, answerer string, itemIDs []string, k int) (ConsensusSnapshot, error) {
	keys := []map[string]types.AttributeValue{Key(consPK(jobID), consJobSK), Key(consPK(jobID), consAnswererPref+answerer)}
	seen := map[string]bool{}
	for _, id := range itemIDs {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, Key(jobsPK(jobID), jobsItemSK(id)))
		}
	}
	got, err := s.batchGet(ctx, keys)
	if err != nil {
		return ConsensusSnapshot{}, err
	}
	now := s.Now()
	snap := ConsensusSnapshot{Job: consensus.NewJob(k), Answerer: consensus.NewAnswerer(answerer, k), Items: map[string]ConsensusItem{}}
	for _, item := range got {
		pk, sk := stringAttr(item, "pk"), stringAttr(item, "sk")
		switch {
		case pk == consPK(jobID) && sk == consJobSK:
			if !Expired(item, now) {
				if snap.Job, err = decodeJobState(item, k); err != nil {
					return ConsensusSnapshot{}, err
				}
			}
		case pk == consPK(jobID):
			w, err := decodeAnswerer(item, answerer, k)
			if err != nil {
				return ConsensusSnapshot{}, err
			}
			if Expired(item, now) {
				w = consensus.NewAnswerer(answerer, k)
				w.Version = numberAttr(item, "version")
			}
			snap.Answerer = w
		default:
			if Expired(item, now) {
				continue
			}
			it, err := decodeConsensusItem(item)
			if err != nil {
				return ConsensusSnapshot{}, err
			}
			snap.Items[it.ID] = it
		}
	}
	return snap, nil
}

// batchGet reads keys (any number) with strongly consistent reads, retrying unprocessed
// keys.
func (s *Consensus) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	return batchGetAll(ctx, s.api, keys, batchRead{
		table:      s.table,
		consistent: true,
		attempts:   9,
		pause:      func(attempt int) time.Duration { return time.Duration(10<<attempt) * time.Millisecond },
		what:       "read consensus state",
	})
}

// ConsensusCommit is the outcome of one answers message: the answerer's new state and the
// items it changed, written all or nothing.
type ConsensusCommit struct {
	JobID string
	// Answerer is the answerer's new state with Version as read; nil leaves it alone.
	Answerer *consensus.AnswererState
	// AnswererExpires is the answerer record's ttl.
	AnswererExpires time.Time
	// Items are the changed items with Version as read.
	Items []ConsensusItem
}

// Commit writes an answerer and items in one transaction (at most 99 items), each
// conditioned on the version it was read at. job.ErrConflict if any of them moved (or an
// item is gone): the caller reads again and retries.
func (s *Consensus) Commit(ctx context.Context, c ConsensusCommit) error {
	var ops []types.TransactWriteItem
	if c.Answerer != nil {
		put, err := s.answererPut(c.JobID, *c.Answerer, c.AnswererExpires)
		if err != nil {
			return err
		}
		ops = append(ops, types.TransactWriteItem{Put: put})
	}
	for _, it := range c.Items {
		up, err := s.itemUpdate(c.JobID, it)
		if err != nil {
			return err
		}
		ops = append(ops, types.TransactWriteItem{Update: up})
	}
	switch {
	case len(ops) == 0:
		return nil
	case len(ops) > 100:
		return fmt.Errorf("%w: %d writes in one commit (at most 100)", job.ErrInvalid, len(ops))
	case len(ops) == 1 && ops[0].Put != nil:
		p := ops[0].Put
		_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
			ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues})
		return commitErr(err)
	case len(ops) == 1:
		u := ops[0].Update
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
			ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues})
		return commitErr(err)
	}
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	return commitErr(err)
}

// commitErr maps a lost race — a failed version condition, or a concurrent transaction on
// the same record — to job.ErrConflict.
func commitErr(err error) error {
	if err == nil {
		return nil
	}
	if isLostRace(err) {
		return job.ErrConflict
	}
	return fmt.Errorf("write consensus state: %w", err)
}

// versionCondition is the condition of a write of a record read at version v.
func versionCondition(attr string, v int64) (string, types.AttributeValue) {
	if v == 0 {
		return "attribute_not_exists(" + attr + ")", nil
	}
	return attr + " = :v", &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func (s *Consensus) answererPut(jobID string, w consensus.AnswererState, expires time.Time) (*types.Put, error) {
	gold, err := numberList(w.Gold)
	if err != nil {
		return nil, fmt.Errorf("answerer gold counts: %w", err)
	}
	soft, err := numberList(w.Soft)
	if err != nil {
		return nil, fmt.Errorf("answerer soft counts: %w", err)
	}
	seen := make([]types.AttributeValue, len(w.GoldSeen))
	for i, id := range w.GoldSeen {
		seen[i] = &types.AttributeValueMemberS{Value: id}
	}
	item := map[string]types.AttributeValue{
		"pk":       &types.AttributeValueMemberS{Value: consPK(jobID)},
		"sk":       &types.AttributeValueMemberS{Value: consAnswererPref + w.Answerer},
		"kind":     &types.AttributeValueMemberS{Value: "consensus-answerer"},
		"answerer": &types.AttributeValueMemberS{Value: w.Answerer},
		"version":  &types.AttributeValueMemberN{Value: strconv.FormatInt(w.Version+1, 10)},
		"classes":  &types.AttributeValueMemberN{Value: strconv.Itoa(w.Classes)},
		"gold":     gold,
		"soft":     soft,
		"answers":  &types.AttributeValueMemberN{Value: strconv.Itoa(w.Answers)},
		"ttl":      TTL(expires),
	}
	// An empty list is left out: minidyn (the local stack's DynamoDB) stores it as a value
	// without a type, and every later Query over the table then fails.
	if len(seen) > 0 {
		item["gold_seen"] = &types.AttributeValueMemberL{Value: seen}
	}
	cond := "attribute_not_exists(pk) OR version = :v"
	return &types.Put{
		TableName: &s.table, Item: item, ConditionExpression: &cond,
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(w.Version, 10)}},
	}, nil
}

func (s *Consensus) itemUpdate(jobID string, it ConsensusItem) (*types.Update, error) {
	q, err := json.Marshal(it.Questions)
	if err != nil {
		return nil, fmt.Errorf("encode consensus of item %s: %w", it.ID, err)
	}
	if it.Result.Status != job.ItemOpen && it.Result.Status != job.ItemDone {
		return nil, fmt.Errorf("%w: item status %q", job.ErrInvalid, it.Result.Status)
	}
	conf, err := number(it.Result.Confidence)
	if err != nil {
		return nil, fmt.Errorf("item %s confidence: %w", it.ID, err)
	}
	values := map[string]types.AttributeValue{
		":q":       &types.AttributeValueMemberS{Value: string(q)},
		":nv":      &types.AttributeValueMemberN{Value: strconv.FormatInt(it.Version+1, 10)},
		":n":       &types.AttributeValueMemberN{Value: strconv.Itoa(it.Result.Answers)},
		":c":       conf,
		":s":       &types.AttributeValueMemberS{Value: string(it.Result.Status)},
		":pending": &types.AttributeValueMemberS{Value: string(job.ItemPending)},
	}
	set := "SET consensus = :q, cons_version = :nv, answer_count = :n, confidence = :c, #st = :s"
	var remove []string
	if it.Result.Label != "" {
		set += ", #lb = :l"
		values[":l"] = &types.AttributeValueMemberS{Value: it.Result.Label}
	} else {
		remove = append(remove, "#lb")
	}
	if !it.CompletedAt.IsZero() {
		set += ", completed_at = :t"
		values[":t"] = &types.AttributeValueMemberS{Value: it.CompletedAt.UTC().Format(time.RFC3339Nano)}
	}
	if it.Result.Status == job.ItemDone {
		// A done item takes no more answers: it leaves the challenge pool (jobs.go).
		remove = append(remove, "gsi1pk", "gsi1sk")
	}
	update := set
	for i, a := range remove {
		if i == 0 {
			update += " REMOVE "
		} else {
			update += ", "
		}
		update += a
	}
	vcond, v := versionCondition("cons_version", it.Version)
	if v != nil {
		values[":v"] = v
	}
	cond := "attribute_exists(pk) AND #st <> :pending AND " + vcond
	return &types.Update{
		TableName: &s.table, Key: Key(jobsPK(jobID), jobsItemSK(it.ID)),
		UpdateExpression: &update, ConditionExpression: &cond,
		ExpressionAttributeNames:  map[string]string{"#st": "status", "#lb": "label"},
		ExpressionAttributeValues: values,
	}, nil
}

// Credit applies Update's credits to the soft counts of the answerers they name, summed
// per answerer into one atomic update each. Each update bumps the answerer's version so
// that a concurrent read-modify-write of the same answerer retries instead of undoing it.
// Answerers whose record is gone (expired) are skipped: re-estimation rebuilds soft counts
// from the items.
func (s *Consensus) Credit(ctx context.Context, jobID string, k int, credits []consensus.Credit) error {
	sums := map[string][]float64{}
	var order []string
	for _, c := range credits {
		if c.Label < 0 || c.Label >= k || len(c.Delta) != k {
			return fmt.Errorf("%w: credit for label %d with %d deltas, want %d classes", consensus.ErrState, c.Label, len(c.Delta), k)
		}
		sum, ok := sums[c.Answerer]
		if !ok {
			sum = make([]float64, k*k)
			sums[c.Answerer] = sum
			order = append(order, c.Answerer)
		}
		for t, d := range c.Delta {
			sum[t*k+c.Label] += d
		}
	}
	return forEach(ctx, order, 4, func(ctx context.Context, answerer string) error {
		return s.addSoft(ctx, jobID, answerer, sums[answerer])
	})
}

func (s *Consensus) addSoft(ctx context.Context, jobID, answerer string, delta []float64) error {
	values := map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}
	update := "SET version = version + :one"
	for i, d := range delta {
		v, err := number(d)
		if err != nil {
			return fmt.Errorf("credit: %w", err)
		}
		if n := v.(*types.AttributeValueMemberN); n.Value == "0" {
			continue
		}
		name := ":d" + strconv.Itoa(i)
		values[name] = v
		update += fmt.Sprintf(", soft[%d] = soft[%d] + %s", i, i, name)
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: Key(consPK(jobID), consAnswererPref+answerer),
		UpdateExpression: &update, ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: values,
	})
	if err != nil && !IsConditionFailed(err) {
		return fmt.Errorf("credit answerer: %w", err)
	}
	return nil
}

// AddJobCounts adds deltas to the job's class counts and pooled confusion counts
// (creating them at zero; confusion may be empty) and renews their ttl.
func (s *Consensus) AddJobCounts(ctx context.Context, jobID string, class, confusion []float64, expires time.Time) error {
	values := map[string]types.AttributeValue{":k": &types.AttributeValueMemberN{Value: strconv.Itoa(len(class))}, ":ttl": TTL(expires)}
	var adds []string
	for _, cells := range []struct {
		prefix string
		delta  []float64
	}{{"c", class}, {"m", confusion}} {
		for i, d := range cells.delta {
			v, err := number(d)
			if err != nil {
				return fmt.Errorf("job counts: %w", err)
			}
			name := cells.prefix + strconv.Itoa(i)
			adds = append(adds, name+" :"+name)
			values[":"+name] = v
		}
	}
	update := "SET classes = :k, #ttl = :ttl ADD " + strings.Join(adds, ", ")
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: Key(consPK(jobID), consJobSK),
		UpdateExpression: &update, ExpressionAttributeNames: map[string]string{"#ttl": "ttl"}, ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("add job counts: %w", err)
	}
	return nil
}

// ActiveJobs lists the ids of the active jobs (the challenge pool's entries).
func (s *Consensus) ActiveJobs(ctx context.Context) ([]string, error) {
	now := s.Now()
	var ids []string
	err := queryEach(ctx, s.api, now, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :p"),
		ProjectionExpression:      aws.String("id, #st, #ttl"),
		ExpressionAttributeNames:  map[string]string{"#st": "status", "#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: jobsPoolPK}},
	}, 0, func(item map[string]types.AttributeValue) error {
		if stringAttr(item, "status") == string(job.StatusActive) {
			ids = append(ids, stringAttr(item, "id"))
		}
		return nil
	})
	return ids, err
}

// JobConsensus is a job's whole consensus state, for re-estimation.
type JobConsensus struct {
	Job consensus.JobState
	// Items are the job's items that have received answers.
	Items []ConsensusItem
	// Answerers are the job's answerer records that have not expired.
	Answerers []consensus.AnswererState
}

// LoadJob reads a job's class counts, every item that has consensus state and every
// unexpired answerer (paginated queries; eventually consistent, as the version
// conditions of the write-back catch anything that moved).
func (s *Consensus) LoadJob(ctx context.Context, jobID string, k int) (JobConsensus, error) {
	now := s.Now()
	var jc JobConsensus
	jc.Job = consensus.NewJob(k)
	err := queryEach(ctx, s.api, now, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: consPK(jobID)}},
	}, 0, func(item map[string]types.AttributeValue) error {
		if stringAttr(item, "sk") == consJobSK {
			st, err := decodeJobState(item, k)
			jc.Job = st
			return err
		}
		w, err := decodeAnswerer(item, stringAttr(item, "answerer"), k)
		if err != nil {
			return err
		}
		jc.Answerers = append(jc.Answerers, w)
		return nil
	})
	if err != nil {
		return JobConsensus{}, err
	}
	// Each pseudonym is held once, however many answers name it: the answerer records'
	// own, or the first answer's when its record expired.
	names := make(map[string]string, len(jc.Answerers))
	for _, w := range jc.Answerers {
		names[w.Answerer] = w.Answerer
	}
	err = queryEach(ctx, s.api, now, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :p AND begins_with(sk, :i)"),
		FilterExpression:       aws.String("attribute_exists(consensus)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": &types.AttributeValueMemberS{Value: jobsPK(jobID)},
			":i": &types.AttributeValueMemberS{Value: jobsItemSK("")},
		},
	}, 0, func(item map[string]types.AttributeValue) error {
		it, err := decodeConsensusItem(item)
		if err != nil {
			return err
		}
		compactAnswers(it.Questions, names)
		jc.Items = append(jc.Items, it)
		return nil
	})
	if err != nil {
		return JobConsensus{}, err
	}
	return jc, nil
}

// compactAnswers shrinks what a job's loaded items hold, a whole job being in memory at
// once: each answer's pseudonym becomes the one copy in names (JSON decoding allocates it
// anew for every answer), and each answer list is cut to its length (decoding grows it by
// doubling, up to twice the answers' size).
func compactAnswers(questions map[string]consensus.ItemState, names map[string]string) {
	for class, q := range questions {
		for i := range q.Answers {
			a := &q.Answers[i]
			if name, ok := names[a.Answerer]; ok {
				a.Answerer = name
			} else {
				names[a.Answerer] = a.Answerer
			}
		}
		if cap(q.Answers) > len(q.Answers) {
			q.Answers = slices.Clone(q.Answers)
			questions[class] = q
		}
	}
}

// PutItem writes one item's consensus, conditioned on its Version (job.ErrConflict).
func (s *Consensus) PutItem(ctx context.Context, jobID string, it ConsensusItem) error {
	return s.Commit(ctx, ConsensusCommit{JobID: jobID, Items: []ConsensusItem{it}})
}

// PutAnswerer writes one answerer's state, conditioned on its Version (job.ErrConflict).
func (s *Consensus) PutAnswerer(ctx context.Context, jobID string, w consensus.AnswererState, expires time.Time) error {
	return s.Commit(ctx, ConsensusCommit{JobID: jobID, Answerer: &w, AnswererExpires: expires})
}

// PutJobState replaces the job's class and pooled confusion counts. It is unconditioned: deltas added between
// the read and this write are lost, which the next re-estimation corrects.
func (s *Consensus) PutJobState(ctx context.Context, jobID string, st consensus.JobState, expires time.Time) error {
	item := map[string]types.AttributeValue{
		"pk":      &types.AttributeValueMemberS{Value: consPK(jobID)},
		"sk":      &types.AttributeValueMemberS{Value: consJobSK},
		"kind":    &types.AttributeValueMemberS{Value: "consensus-job"},
		"classes": &types.AttributeValueMemberN{Value: strconv.Itoa(st.Classes)},
		"ttl":     TTL(expires),
	}
	for i, c := range st.ClassCounts {
		v, err := number(c)
		if err != nil {
			return fmt.Errorf("class counts: %w", err)
		}
		item["c"+strconv.Itoa(i)] = v
	}
	for i, c := range st.Confusion {
		v, err := number(c)
		if err != nil {
			return fmt.Errorf("confusion counts: %w", err)
		}
		item["m"+strconv.Itoa(i)] = v
	}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
		return fmt.Errorf("put class counts: %w", err)
	}
	return nil
}

func decodeJobState(item map[string]types.AttributeValue, k int) (consensus.JobState, error) {
	st := consensus.NewJob(k)
	if n := numberAttr(item, "classes"); n != int64(k) {
		return st, fmt.Errorf("%w: stored class counts are for %d classes, want %d", consensus.ErrState, n, k)
	}
	for i := range k {
		v, err := floatAttr(item, "c"+strconv.Itoa(i))
		if err != nil {
			return st, err
		}
		st.ClassCounts[i] = v
	}
	// Records written before the pooled confusion counts existed have none.
	if _, ok := item["m0"]; ok {
		st.Confusion = make([]float64, k*k)
		for i := range st.Confusion {
			v, err := floatAttr(item, "m"+strconv.Itoa(i))
			if err != nil {
				return st, err
			}
			st.Confusion[i] = v
		}
	}
	return st, nil
}

type consAnswererItem struct {
	Version  int64     `dynamodbav:"version"`
	Answerer string    `dynamodbav:"answerer"`
	Classes  int       `dynamodbav:"classes"`
	Gold     []float64 `dynamodbav:"gold"`
	Soft     []float64 `dynamodbav:"soft"`
	Answers  int       `dynamodbav:"answers"`
	GoldSeen []string  `dynamodbav:"gold_seen"`
}

func decodeAnswerer(item map[string]types.AttributeValue, answerer string, k int) (consensus.AnswererState, error) {
	var it consAnswererItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return consensus.AnswererState{}, fmt.Errorf("decode answerer: %w", err)
	}
	// Errors are logged: they name no pseudonym (docs/PRIVACY.md, Logs).
	if it.Answerer != answerer {
		return consensus.AnswererState{}, fmt.Errorf("%w: stored answerer record is another answerer's", consensus.ErrState)
	}
	if it.Classes != k || len(it.Gold) != k*k || len(it.Soft) != k*k {
		return consensus.AnswererState{}, fmt.Errorf("%w: stored answerer has %d classes (%d/%d counts), want %d", consensus.ErrState, it.Classes, len(it.Gold), len(it.Soft), k)
	}
	return consensus.AnswererState{
		Version: it.Version, Answerer: it.Answerer, Classes: it.Classes, Gold: it.Gold, Soft: it.Soft,
		Answers: it.Answers, GoldSeen: it.GoldSeen,
	}, nil
}

type consItemItem struct {
	ID          string     `dynamodbav:"id"`
	Gold        bool       `dynamodbav:"gold"`
	Status      string     `dynamodbav:"status"`
	Consensus   string     `dynamodbav:"consensus"`
	Version     int64      `dynamodbav:"cons_version"`
	Label       string     `dynamodbav:"label"`
	Confidence  float64    `dynamodbav:"confidence"`
	AnswerCount int        `dynamodbav:"answer_count"`
	CompletedAt *time.Time `dynamodbav:"completed_at"`
}

func decodeConsensusItem(item map[string]types.AttributeValue) (ConsensusItem, error) {
	var it consItemItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return ConsensusItem{}, fmt.Errorf("decode item: %w", err)
	}
	out := ConsensusItem{
		ID: it.ID, Gold: it.Gold, Status: job.ItemStatus(it.Status), Version: it.Version, Questions: map[string]consensus.ItemState{},
		Result: job.Result{Status: job.ItemStatus(it.Status), Answers: it.AnswerCount, Label: it.Label, Confidence: it.Confidence},
	}
	if it.Consensus != "" {
		if err := json.Unmarshal([]byte(it.Consensus), &out.Questions); err != nil {
			return ConsensusItem{}, fmt.Errorf("decode consensus of item %s: %w", it.ID, err)
		}
	}
	if it.CompletedAt != nil {
		out.CompletedAt = *it.CompletedAt
	}
	return out, nil
}

// number encodes a float as a DynamoDB number. DynamoDB numbers stop at magnitudes of
// 1e-130, and posteriors and their changes can be far smaller: those become 0.
func number(v float64) (types.AttributeValue, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("%w: non-finite number", consensus.ErrState)
	}
	if math.Abs(v) < 1e-100 {
		return &types.AttributeValueMemberN{Value: "0"}, nil
	}
	return &types.AttributeValueMemberN{Value: strconv.FormatFloat(v, 'g', -1, 64)}, nil
}

func numberList(vs []float64) (types.AttributeValue, error) {
	l := make([]types.AttributeValue, len(vs))
	for i, v := range vs {
		n, err := number(v)
		if err != nil {
			return nil, err
		}
		l[i] = n
	}
	return &types.AttributeValueMemberL{Value: l}, nil
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func numberAttr(item map[string]types.AttributeValue, name string) int64 {
	if n, ok := item[name].(*types.AttributeValueMemberN); ok {
		v, _ := strconv.ParseInt(n.Value, 10, 64)
		return v
	}
	return 0
}

func floatAttr(item map[string]types.AttributeValue, name string) (float64, error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		return 0, fmt.Errorf("decode %s: %w", name, err)
	}
	return v, nil
}

// forEach runs fn for every key with at most n at a time and returns the first error. A
// panic in fn is returned as an error: on a goroutine of its own it would end the process,
// out of reach of platform.IsolatePanics, and every message of the batch with it.
func forEach(ctx context.Context, keys []string, n int, fn func(context.Context, string) error) error {
	if len(keys) <= 1 {
		for _, k := range keys {
			if err := fn(ctx, k); err != nil {
				return err
			}
		}
		return nil
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := platform.Recovered(func() error { return fn(ctx, k) }); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return first
}
