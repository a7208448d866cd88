package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Challenges is the challenge.Store on the challenges table. Layout:
//
//	CHALLENGE#<id>  CHALLENGE  the challenge with its tasks and gold truths; ttl = its
//	                           expiry; used_at once answered (kept until the ttl, so a
//	                           replay gets "already used" rather than "not found")
type Challenges struct {
	api   API
	table string
}

var _ challenge.Store = (*Challenges)(nil)

// NewChallenges returns the store on the deployed challenges table.
func NewChallenges(api API, table string) *Challenges {
	return &Challenges{api: api, table: table}
}

const chalSK = "CHALLENGE"

func chalPK(id string) string { return "CHALLENGE#" + id }

// Attribute names are short: a challenge carries ~20 items and is read once per answer.
type chalItem struct {
	PK        string     `dynamodbav:"pk"`
	SK        string     `dynamodbav:"sk"`
	Kind      string     `dynamodbav:"kind"`
	ID        string     `dynamodbav:"id"`
	Sitekey   string     `dynamodbav:"sitekey"`
	Host      string     `dynamodbav:"host"`
	Locale    string     `dynamodbav:"locale"`
	IssuedAt  time.Time  `dynamodbav:"issued_at"`
	ExpiresAt time.Time  `dynamodbav:"expires_at"`
	TTL       int64      `dynamodbav:"ttl"`
	UsedAt    *time.Time `dynamodbav:"used_at,omitempty"`
	Tasks     []chalTask `dynamodbav:"tasks"`
}

type chalTask struct {
	ID    string         `dynamodbav:"id"`
	Kind  string         `dynamodbav:"kind"`
	JobID string         `dynamodbav:"job"`
	Class string         `dynamodbav:"class"`
	Items []chalTaskItem `dynamodbav:"items"`
}

type chalTaskItem struct {
	Tile   string `dynamodbav:"t,omitempty"`
	ItemID string `dynamodbav:"i"`
	Gold   bool   `dynamodbav:"g"`
	Truth  bool   `dynamodbav:"v"`
}

// Put implements challenge.Store.
func (c *Challenges) Put(ctx context.Context, r challenge.Record) error {
	it := chalItem{
		PK: chalPK(r.ID), SK: chalSK, Kind: "challenge", ID: r.ID, Sitekey: r.Sitekey, Host: r.Host,
		Locale: r.Locale, IssuedAt: r.IssuedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), TTL: chalTTLSeconds(r.ExpiresAt),
	}
	for _, t := range r.Tasks {
		ct := chalTask{ID: t.ID, Kind: string(t.Kind), JobID: t.JobID, Class: t.Class}
		for _, x := range t.Items {
			ct.Items = append(ct.Items, chalTaskItem{Tile: x.Tile, ItemID: x.ItemID, Gold: x.Gold, Truth: x.Truth})
		}
		it.Tasks = append(it.Tasks, ct)
	}
	// A retried put of this very record succeeds. Ids are 128 random bits, so any other
	// record under the id is not a collision but a bug, and stays an error.
	return putNewOrOwn(ctx, c.api, c.table, Key(it.PK, it.SK), it, normalizeChal, nil, nil, "challenge")
}

// normalizeChal drops what a round trip may change: time zones and monotonic readings.
func normalizeChal(it chalItem) chalItem {
	it.IssuedAt, it.ExpiresAt = it.IssuedAt.UTC().Round(0), it.ExpiresAt.UTC().Round(0)
	return it
}

// Get implements challenge.Store. An expired challenge that DynamoDB has not deleted yet
// is returned as challenge.ErrExpired.
func (c *Challenges) Get(ctx context.Context, id string) (challenge.Record, error) {
	item, err := getStored(ctx, c.api, c.table, Key(chalPK(id), chalSK), challenge.ErrNotFound, "challenge")
	if err != nil {
		return challenge.Record{}, err
	}
	var it chalItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return challenge.Record{}, fmt.Errorf("decode challenge: %w", err)
	}
	r := challenge.Record{
		ID: it.ID, Sitekey: it.Sitekey, Host: it.Host, Locale: it.Locale,
		IssuedAt: it.IssuedAt, ExpiresAt: it.ExpiresAt, Used: it.UsedAt != nil,
	}
	for _, t := range it.Tasks {
		tr := challenge.TaskRecord{ID: t.ID, Kind: challenge.TaskKind(t.Kind), JobID: t.JobID, Class: t.Class}
		for _, x := range t.Items {
			tr.Items = append(tr.Items, challenge.ItemRecord{Tile: x.Tile, ItemID: x.ItemID, Gold: x.Gold, Truth: x.Truth})
		}
		r.Tasks = append(r.Tasks, tr)
	}
	if Expired(item, time.Now()) {
		return r, challenge.ErrExpired
	}
	return r, nil
}

// Consume implements challenge.Store with one conditional write: of concurrent answers to
// the same challenge exactly one sets used_at.
func (c *Challenges) Consume(ctx context.Context, id string, now time.Time) error {
	return consumeOnce(ctx, c.api, c.table, Key(chalPK(id), chalSK), now, consumeErrors{
		missing: challenge.ErrNotFound, used: challenge.ErrUsed, expired: challenge.ErrExpired,
	}, "challenge")
}

// consumeErrors are a store's answers when a consume-once write finds no record, a used
// one or an expired one.
type consumeErrors struct{ missing, used, expired error }

// consumeOnce sets used_at on the item at key if it exists, is unused and its ttl is after
// now: one conditional write, so of concurrent callers exactly one consumes it (challenges
// and text challenges: each answers once). Otherwise it returns the matching one of errs.
func consumeOnce(ctx context.Context, api API, table string, key map[string]types.AttributeValue, now time.Time, errs consumeErrors, what string) error {
	at, err := attributevalue.Marshal(now.UTC())
	if err != nil {
		return fmt.Errorf("consume %s: encode time: %w", what, err)
	}
	_, err = api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &table,
		Key:                                 key,
		UpdateExpression:                    aws.String("SET used_at = :at"),
		ConditionExpression:                 aws.String("attribute_exists(pk) AND attribute_not_exists(used_at) AND #ttl > :now"),
		ExpressionAttributeNames:            map[string]string{"#ttl": schema.TTLAttribute},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":at": at, ":now": epoch(now)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	old, err := conditionFailedItem(ctx, api, table, key, err)
	if err != nil {
		return fmt.Errorf("consume %s: %w", what, err)
	}
	switch {
	case len(old) == 0:
		return errs.missing
	case old["used_at"] != nil:
		return errs.used
	}
	return errs.expired
}

// chalTTLSeconds is the ttl attribute value for an expiry (rounded up, so a record never
// expires before its time).
func chalTTLSeconds(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
