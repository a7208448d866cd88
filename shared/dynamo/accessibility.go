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

	"github.com/crowdgate/crowdgate/shared/accessibility"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Accessibility is the accessibility.Store on the accounts table (KMS-encrypted: the only
// table that holds personal data), and the privacy executors' view of the same records.
// Every record has the pk prefix A11YPrefix (the IAM grant of the accessibility function
// is limited to it) and a ttl:
//
//	A11Y#SIGNUP#<code hash>  A11Y  a pending sign-up: subject hash; ttl 1 hour
//	A11Y#TOKEN#<sha-256>     A11Y  an accessibility token: subject hash; ttl 24 hours
//	A11Y#RL#<counter key>    A11Y  a rate-limit counter: n, win_end; ttl = win_end
//	A11Y#FENCE#<subject>     A11Y  an erasure's fence: no token of the subject is stored or
//	                               works; ttl accessibility.FenceTTL
//
// Records tied to a subject carry gsi1pk A11Y#SUBJECT#<subject hash> (gsi1sk = pk), which
// is how a privacy request finds them; network counters carry no subject. A fence carries
// none: it is the erasure's, which must not find and delete it.
type Accessibility struct {
	api   API
	table string
}

var (
	_ accessibility.Store       = (*Accessibility)(nil)
	_ privacy.AccessibilityData = (*Accessibility)(nil)
)

// A11YPrefix starts the pk (and gsi1pk) of every accessibility record.
const A11YPrefix = "A11Y#"

// NewAccessibility returns the store on the deployed accounts table.
func NewAccessibility(api API, table string) *Accessibility {
	return &Accessibility{api: api, table: table}
}

const a11ySK = "A11Y"

type a11yItem struct {
	PK        string    `dynamodbav:"pk"`
	SK        string    `dynamodbav:"sk"`
	GSI1PK    string    `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK    string    `dynamodbav:"gsi1sk,omitempty"`
	Kind      string    `dynamodbav:"kind"`
	Subject   string    `dynamodbav:"subject,omitempty"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	ExpiresAt time.Time `dynamodbav:"expires_at"`
	TTL       int64     `dynamodbav:"ttl"`
	N         int       `dynamodbav:"n,omitempty"`
	WinEnd    int64     `dynamodbav:"win_end,omitempty"`
}

func a11yItemOf(pk, kind, subject string, created, expires time.Time) a11yItem {
	it := a11yItem{PK: pk, SK: a11ySK, Kind: kind, Subject: subject, CreatedAt: created.UTC(), ExpiresAt: expires.UTC(), TTL: chalTTLSeconds(expires)}
	if subject != "" {
		it.GSI1PK, it.GSI1SK = a11ySubjectPK(subject), pk
	}
	return it
}

func a11ySubjectPK(subject string) string { return A11YPrefix + "SUBJECT#" + subject }

func (a *Accessibility) put(ctx context.Context, it a11yItem) error {
	return putNew(ctx, a.api, a.table, it, nil, it.Kind)
}

// PutSignup implements accessibility.Store.
func (a *Accessibility) PutSignup(ctx context.Context, s accessibility.Signup) error {
	return a.put(ctx, a11yItemOf(A11YPrefix+"SIGNUP#"+s.CodeHash, privacy.KindAccessibilitySignup, s.Subject, s.CreatedAt, s.ExpiresAt))
}

// TakeSignup implements accessibility.Store with one conditional delete, so a code is
// taken once however many requests race for it.
func (a *Accessibility) TakeSignup(ctx context.Context, codeHash string, now time.Time) (accessibility.Signup, error) {
	out, err := a.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &a.table,
		Key:                       Key(A11YPrefix+"SIGNUP#"+codeHash, a11ySK),
		ConditionExpression:       aws.String("attribute_exists(pk) AND #ttl > :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": schema.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": epoch(now)},
		ReturnValues:              types.ReturnValueAllOld,
	})
	if IsConditionFailed(err) {
		return accessibility.Signup{}, accessibility.ErrInvalidCode
	}
	if err != nil {
		return accessibility.Signup{}, fmt.Errorf("take sign-up: %w", err)
	}
	var it a11yItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return accessibility.Signup{}, fmt.Errorf("decode sign-up: %w", err)
	}
	return accessibility.Signup{CodeHash: codeHash, Subject: it.Subject, CreatedAt: it.CreatedAt, ExpiresAt: it.ExpiresAt}, nil
}

func a11yFenceKey(subject string) map[string]types.AttributeValue {
	return Key(A11YPrefix+"FENCE#"+subject, a11ySK)
}

// PutToken implements accessibility.Store: the token's put and the check that its subject
// is not fenced are one transaction, so no token commits once an erasure's fence is up.
func (a *Accessibility) PutToken(ctx context.Context, t accessibility.Token) error {
	rec, err := attributevalue.MarshalMap(a11yItemOf(A11YPrefix+"TOKEN#"+t.Hash, privacy.KindAccessibilityToken, t.Subject, t.CreatedAt, t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("encode accessibility token: %w", err)
	}
	_, err = a.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{
			TableName: &a.table, Key: a11yFenceKey(t.Subject),
			// An expired fence DynamoDB has not deleted yet fences nothing.
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR #ttl <= :now"),
			ExpressionAttributeNames:  map[string]string{"#ttl": schema.TTLAttribute},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": epoch(t.CreatedAt)},
		}},
		{Put: &types.Put{TableName: &a.table, Item: rec, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	if acctFailedAt(err, 0) {
		return accessibility.ErrErasing
	}
	if err != nil {
		return fmt.Errorf("put accessibility token: %w", err)
	}
	return nil
}

// FenceAccessibility implements privacy.AccessibilityData with one write. UpdateItem, not
// PutItem: it is the write the privacy worker may make on the accounts table.
func (a *Accessibility) FenceAccessibility(ctx context.Context, subjectHash string, now time.Time) error {
	if subjectHash == "" {
		return nil
	}
	until := now.Add(accessibility.FenceTTL)
	_, err := a.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(a.table),
		Key:                      a11yFenceKey(subjectHash),
		UpdateExpression:         aws.String("SET kind = :kind, created_at = :at, expires_at = :until, #ttl = :ttl"),
		ExpressionAttributeNames: map[string]string{"#ttl": schema.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":kind":  &types.AttributeValueMemberS{Value: "accessibility_fence"},
			":at":    &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)},
			":until": &types.AttributeValueMemberS{Value: until.UTC().Format(time.RFC3339Nano)},
			":ttl":   &types.AttributeValueMemberN{Value: strconv.FormatInt(chalTTLSeconds(until), 10)},
		},
	})
	if err != nil {
		return fmt.Errorf("fence accessibility records: %w", err)
	}
	return nil
}

// fenced reports whether an erasure's fence on subject is up at now (a strongly
// consistent read, so a fence put a moment ago counts).
func (a *Accessibility) fenced(ctx context.Context, subject string, now time.Time) (bool, error) {
	if subject == "" {
		return false, nil
	}
	var it a11yItem
	err := getDecoded(ctx, a.api, a.table, a11yFenceKey(subject), now, &it, errNoFence, "accessibility fence")
	if errors.Is(err, errNoFence) {
		return false, nil
	}
	return err == nil, err
}

var errNoFence = errors.New("no fence")

// Token implements accessibility.Store; an expired token DynamoDB has not deleted yet
// does not work.
func (a *Accessibility) Token(ctx context.Context, hash string, now time.Time) (accessibility.Token, error) {
	var it a11yItem
	err := getDecoded(ctx, a.api, a.table, Key(A11YPrefix+"TOKEN#"+hash, a11ySK), now, &it, accessibility.ErrTokenRequired, "accessibility token")
	if err != nil {
		return accessibility.Token{}, err
	}
	if !now.Before(it.ExpiresAt) {
		return accessibility.Token{}, accessibility.ErrTokenRequired
	}
	// A token its subject's erasure did not list (stored a moment before the fence, gsi1
	// not caught up) must not go on working: one more read per use.
	switch fenced, err := a.fenced(ctx, it.Subject, now); {
	case err != nil:
		return accessibility.Token{}, err
	case fenced:
		return accessibility.Token{}, accessibility.ErrTokenRequired
	}
	return accessibility.Token{Hash: hash, Subject: it.Subject, CreatedAt: it.CreatedAt, ExpiresAt: it.ExpiresAt}, nil
}

// DeleteToken implements accessibility.Store.
func (a *Accessibility) DeleteToken(ctx context.Context, hash string) error {
	if _, err := a.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &a.table, Key: Key(A11YPrefix+"TOKEN#"+hash, a11ySK)}); err != nil {
		return fmt.Errorf("delete accessibility token: %w", err)
	}
	return nil
}

// Take implements accessibility.Store: an increment conditional on an open window under
// the limit; when there is no open window, a put conditional on there still being none.
// Each step is one conditional write, so racing takes never count past the limit.
func (a *Accessibility) Take(ctx context.Context, c accessibility.Counter, now time.Time) (bool, time.Time, error) {
	pk := A11YPrefix + "RL#" + c.Key
	// Errors name the counter's kind only: the rest of the key is a subject hash or a
	// network pseudonym, and errors end up in logs.
	kind, _, _ := strings.Cut(c.Key, "#")
	for range 4 {
		out, err := a.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           &a.table,
			Key:                 Key(pk, a11ySK),
			UpdateExpression:    aws.String("SET n = n + :one"),
			ConditionExpression: aws.String("attribute_exists(pk) AND win_end > :now AND n < :limit"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": &types.AttributeValueMemberN{Value: "1"}, ":now": epoch(now),
				":limit": &types.AttributeValueMemberN{Value: strconv.Itoa(c.Limit)},
			},
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return true, winEnd(out.Attributes), nil
		}
		item, err := conditionFailedItem(ctx, a.api, a.table, Key(pk, a11ySK), err)
		if err != nil {
			return false, time.Time{}, fmt.Errorf("count %s: %w", kind, err)
		}
		if len(item) > 0 && winEnd(item).Unix() > now.Unix() {
			if counted(item) >= c.Limit {
				return false, winEnd(item), nil // the window is open and full
			}
			continue // a racing take opened the window after the update was refused: count again
		}
		// No open window: start one, unless a racing take just did.
		end := now.Add(c.Window)
		it := a11yItemOf(pk, privacy.KindAccessibilityRateLimit, c.Subject, now, end)
		it.N, it.WinEnd = 1, end.Unix()
		rec, err := attributevalue.MarshalMap(it)
		if err != nil {
			return false, time.Time{}, fmt.Errorf("encode counter: %w", err)
		}
		_, err = a.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &a.table, Item: rec,
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR win_end <= :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": epoch(now)},
		})
		if err == nil {
			return true, time.Unix(it.WinEnd, 0).UTC(), nil
		}
		if !IsConditionFailed(err) {
			return false, time.Time{}, fmt.Errorf("start counter window: %w", err)
		}
	}
	return false, time.Time{}, fmt.Errorf("count %s: too much contention", kind)
}

// GiveBack implements accessibility.Store: a decrement conditional on an open window with
// a count above zero; when the condition fails there is nothing to give back.
func (a *Accessibility) GiveBack(ctx context.Context, c accessibility.Counter, now time.Time) error {
	_, err := a.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &a.table,
		Key:                 Key(A11YPrefix+"RL#"+c.Key, a11ySK),
		UpdateExpression:    aws.String("SET n = n - :one"),
		ConditionExpression: aws.String("attribute_exists(pk) AND win_end > :now AND n > :zero"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"}, ":zero": &types.AttributeValueMemberN{Value: "0"}, ":now": epoch(now),
		},
	})
	if err != nil && !IsConditionFailed(err) {
		kind, _, _ := strings.Cut(c.Key, "#") // errors reach logs: never the subject hash
		return fmt.Errorf("give back %s: %w", kind, err)
	}
	return nil
}

// counted is a counter item's count so far.
func counted(item map[string]types.AttributeValue) int {
	n, _ := item["n"].(*types.AttributeValueMemberN)
	if n == nil {
		return 0
	}
	v, _ := strconv.Atoi(n.Value)
	return v
}

func winEnd(item map[string]types.AttributeValue) time.Time {
	n, _ := item["win_end"].(*types.AttributeValueMemberN)
	if n == nil {
		return time.Time{}
	}
	sec, _ := strconv.ParseInt(n.Value, 10, 64)
	return time.Unix(sec, 0).UTC()
}

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// AccessibilityOf implements privacy.AccessibilityData with a query of gsi1.
func (a *Accessibility) AccessibilityOf(ctx context.Context, subjectHash string) ([]privacy.AccessibilityRecord, error) {
	if subjectHash == "" {
		return nil, nil
	}
	in := &dynamodb.QueryInput{
		TableName:                 &a.table,
		IndexName:                 aws.String(schema.GSI1.Name),
		KeyConditionExpression:    aws.String("gsi1pk = :s"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: a11ySubjectPK(subjectHash)}},
	}
	var out []privacy.AccessibilityRecord
	err := queryEach(ctx, a.api, time.Time{}, in, 0, func(raw map[string]types.AttributeValue) error {
		var it a11yItem
		if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
			return fmt.Errorf("decode accessibility record: %w", err)
		}
		if strings.HasPrefix(it.PK, A11YPrefix) {
			out = append(out, privacy.AccessibilityRecord{Key: it.PK, Kind: it.Kind, CreatedAt: it.CreatedAt, ExpiresAt: it.ExpiresAt})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list accessibility records: %w", err)
	}
	return out, nil
}

// DeleteAccessibility implements privacy.AccessibilityData; only A11Y# keys are deleted.
// Each deletion returns the record it removed, so a key already gone (gsi1, which lists
// them, goes on listing a record for a moment after its deletion) is not reported removed,
// and a failure part-way still reports the records removed before it.
func (a *Accessibility) DeleteAccessibility(ctx context.Context, keys []string) ([]string, error) {
	for _, k := range keys {
		if !strings.HasPrefix(k, A11YPrefix) {
			return nil, fmt.Errorf("delete accessibility record: %q is not an accessibility key", k)
		}
	}
	var gone []string
	for _, k := range keys {
		out, err := a.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &a.table, Key: Key(k, a11ySK), ReturnValues: types.ReturnValueAllOld,
		})
		if err != nil {
			return gone, fmt.Errorf("delete accessibility record: %w", err)
		}
		if len(out.Attributes) > 0 {
			gone = append(gone, k)
		}
	}
	return gone, nil
}

// TextChallenges is the accessibility.Challenges store on the challenges table:
//
//	TEXTCHALLENGE#<id>  TEXTCHALLENGE  sitekey, host, accepted answers; ttl = its expiry;
//	                                   used_at once answered
//
// It holds no reference to the accessibility token or subject that asked for it.
type TextChallenges struct {
	api   API
	table string
}

var _ accessibility.Challenges = (*TextChallenges)(nil)

// NewTextChallenges returns the store on the deployed challenges table.
func NewTextChallenges(api API, table string) *TextChallenges {
	return &TextChallenges{api: api, table: table}
}

const textChalSK = "TEXTCHALLENGE"

func textChalPK(id string) string { return "TEXTCHALLENGE#" + id }

type textChalItem struct {
	PK        string     `dynamodbav:"pk"`
	SK        string     `dynamodbav:"sk"`
	Kind      string     `dynamodbav:"kind"`
	ID        string     `dynamodbav:"id"`
	Sitekey   string     `dynamodbav:"sitekey"`
	Host      string     `dynamodbav:"host"`
	Answers   []string   `dynamodbav:"answers"`
	IssuedAt  time.Time  `dynamodbav:"issued_at"`
	ExpiresAt time.Time  `dynamodbav:"expires_at"`
	TTL       int64      `dynamodbav:"ttl"`
	UsedAt    *time.Time `dynamodbav:"used_at,omitempty"`
}

// Put implements accessibility.Challenges.
func (c *TextChallenges) Put(ctx context.Context, tc accessibility.TextChallenge) error {
	return putNew(ctx, c.api, c.table, textChalItem{
		PK: textChalPK(tc.ID), SK: textChalSK, Kind: "text_challenge", ID: tc.ID, Sitekey: tc.Sitekey, Host: tc.Host,
		Answers: tc.Answers, IssuedAt: tc.IssuedAt.UTC(), ExpiresAt: tc.ExpiresAt.UTC(), TTL: chalTTLSeconds(tc.ExpiresAt),
	}, nil, "text challenge")
}

// Get implements accessibility.Challenges.
func (c *TextChallenges) Get(ctx context.Context, id string, now time.Time) (accessibility.TextChallenge, error) {
	item, err := getStored(ctx, c.api, c.table, Key(textChalPK(id), textChalSK), accessibility.ErrNotFound, "text challenge")
	if err != nil {
		return accessibility.TextChallenge{}, err
	}
	var it textChalItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return accessibility.TextChallenge{}, fmt.Errorf("decode text challenge: %w", err)
	}
	if Expired(item, now) || !now.Before(it.ExpiresAt) {
		return accessibility.TextChallenge{}, accessibility.ErrExpired
	}
	return accessibility.TextChallenge{
		ID: it.ID, Sitekey: it.Sitekey, Host: it.Host, Answers: it.Answers,
		IssuedAt: it.IssuedAt, ExpiresAt: it.ExpiresAt, Used: it.UsedAt != nil,
	}, nil
}

// Consume implements accessibility.Challenges with one conditional write.
func (c *TextChallenges) Consume(ctx context.Context, id string, now time.Time) error {
	return consumeOnce(ctx, c.api, c.table, Key(textChalPK(id), textChalSK), now, consumeErrors{
		missing: accessibility.ErrNotFound, used: accessibility.ErrUsed, expired: accessibility.ErrExpired,
	}, "text challenge")
}

var _ privacy.SubjectData = (*Accessibility)(nil)

// Holds implements privacy.SubjectData: HoldAccessibility when the subject has an
// unexpired accessibility record.
func (a *Accessibility) Holds(ctx context.Context, subjectHash string) ([]string, error) {
	recs, err := a.AccessibilityOf(ctx, subjectHash)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, r := range recs {
		if now.Before(r.ExpiresAt) {
			return []string{privacy.HoldAccessibility}, nil
		}
	}
	return nil, nil
}
