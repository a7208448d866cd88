package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/token"
)

// Tokens keeps pass-token records in the challenges table (TOKEN#<jti> / TOKEN, ttl = the
// token's expiry). The challenge function Puts a record when a visitor passes; siteverify
// Redeems it exactly once.
type Tokens struct {
	api   API
	table string
}

// NewTokens returns the token store on the deployed challenges table.
func NewTokens(api API, table string) *Tokens { return &Tokens{api: api, table: table} }

const tokSK = "TOKEN"

func tokPK(id string) string { return "TOKEN#" + id }

// tokIdempotencyKey is the attribute of a redeemed record that holds the caller's
// idempotency key: a random UUID the integrator chose, kept only until the token's ttl.
const tokIdempotencyKey = "idempotency_key"

type tokItem struct {
	PK          string    `dynamodbav:"pk"`
	SK          string    `dynamodbav:"sk"`
	Kind        string    `dynamodbav:"kind"`
	ID          string    `dynamodbav:"id"`
	Sitekey     string    `dynamodbav:"sitekey"`
	Hostname    string    `dynamodbav:"hostname"`
	ChallengeTS time.Time `dynamodbav:"challenge_ts"`
	ExpiresAt   time.Time `dynamodbav:"expires_at"`
	Score       float64   `dynamodbav:"score"`
	// omitempty: an empty list is stored as no attribute, which every DynamoDB stand-in
	// round-trips (minidyn drops empty lists and hands them back as an empty map).
	ScoreReasons []string `dynamodbav:"score_reasons,omitempty"`
	TTL          int64    `dynamodbav:"ttl"`
}

// Put stores the record of a freshly issued token; an existing record with the same id is
// never overwritten (that would re-arm a redeemed token).
func (t *Tokens) Put(ctx context.Context, r token.Record) error {
	if r.ID == "" || r.ExpiresAt.IsZero() {
		return errors.New("put token: id and expiry are required")
	}
	it := tokItem{
		PK: tokPK(r.ID), SK: tokSK, Kind: "token", ID: r.ID, Sitekey: r.Sitekey, Hostname: r.Hostname,
		ChallengeTS: r.ChallengeTS.UTC(), ExpiresAt: r.ExpiresAt.UTC(), Score: r.Score, ScoreReasons: r.ScoreReasons,
		TTL: r.ExpiresAt.Unix(),
	}
	// A retried put of this very record succeeds (refusing it would fail a visitor who
	// passed), unless the stored one was redeemed meanwhile.
	unredeemed := func(stored map[string]types.AttributeValue) bool { return stored["redeemed_at"] == nil }
	return putNewOrOwn(ctx, t.api, t.table, Key(it.PK, it.SK), it, normalizeTok, unredeemed, errors.New("put token: id already stored"), "token")
}

// normalizeTok drops what a round trip may change: time zones, monotonic readings and an
// empty list stored as no attribute.
func normalizeTok(it tokItem) tokItem {
	it.ChallengeTS, it.ExpiresAt = it.ChallengeTS.UTC().Round(0), it.ExpiresAt.UTC().Round(0)
	if len(it.ScoreReasons) == 0 {
		it.ScoreReasons = nil
	}
	return it
}

// Redeem marks the token used and returns its record, in one conditional UpdateItem so that
// of any number of concurrent calls exactly one succeeds. A non-empty idempotencyKey is
// stored with the redemption, and a later call with the same key, before the token
// expires, gets the record again (token.IdempotentReplay). Failures:
// token.ErrAlreadyRedeemed, token.ErrExpired (its ttl has passed; DynamoDB may not have
// deleted it yet) or token.ErrNotFound.
func (t *Tokens) Redeem(ctx context.Context, id string, now time.Time, idempotencyKey string) (token.Record, error) {
	key := Key(tokPK(id), tokSK)
	update := "SET redeemed_at = :now"
	values := map[string]types.AttributeValue{
		":now": &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)},
		":sec": epoch(now),
	}
	if idempotencyKey != "" {
		update += ", " + tokIdempotencyKey + " = :key"
		values[":key"] = &types.AttributeValueMemberS{Value: idempotencyKey}
	}
	out, err := t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &t.table,
		Key:                                 key,
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String("attribute_exists(pk) AND attribute_not_exists(redeemed_at) AND #ttl > :sec"),
		ExpressionAttributeNames:            map[string]string{"#ttl": schema.TTLAttribute},
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return tokRecord(out.Attributes)
	}
	// Tell the reasons apart from the item as it was.
	item, err := conditionFailedItem(ctx, t.api, t.table, key, err)
	if err != nil {
		return token.Record{}, fmt.Errorf("redeem token: %w", err)
	}
	switch {
	case len(item) == 0:
		return token.Record{}, token.ErrNotFound
	case item["redeemed_at"] != nil:
		stored, ok := item[tokIdempotencyKey].(*types.AttributeValueMemberS)
		if ok && idempotencyKey != "" && stored.Value == idempotencyKey && !Expired(item, now) {
			return tokRecord(item)
		}
		return token.Record{}, token.ErrAlreadyRedeemed
	case Expired(item, now):
		return token.Record{}, token.ErrExpired
	}
	return token.Record{}, fmt.Errorf("redeem token: condition failed on an unredeemed, unexpired record")
}

func tokRecord(item map[string]types.AttributeValue) (token.Record, error) {
	var it tokItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return token.Record{}, fmt.Errorf("decode token: %w", err)
	}
	return token.Record{
		ID: it.ID, Sitekey: it.Sitekey, Hostname: it.Hostname, ChallengeTS: it.ChallengeTS, ExpiresAt: it.ExpiresAt,
		Score: it.Score, ScoreReasons: it.ScoreReasons,
	}, nil
}
