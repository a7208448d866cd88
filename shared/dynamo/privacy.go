package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Privacy is the privacy.Store on the privacy table. Layout (every record has a ttl):
//
//	REQ#<id>                 REQUEST             the request; gsi1 STATUS#<status> / <received>#<id>
//	                                             lists by status, newest first; ttl = received + 27 months
//	REQ#<id>                 CODE                the current verification code (keyed hash, attempts);
//	                                             ttl = the code's expiry (10 minutes)
//	REQ#<id>                 AUDIT#<at>#<rand>   one audit entry; ttl = the request's, however
//	                                             late the entry is written
//	OPEN#<subject>#<type>    OPEN                the open request of a subject hash and type
//	                                             (duplicate detection); deleted when the request
//	                                             closes; ttl = the request's
//	FILINGS#<network key>    COUNT               requests filed from a network this hour (n);
//	                                             the key changes every hour; ttl = the hour's end
//
// Every state change is one transaction conditional on the request's version, so
// concurrent changes cannot overwrite each other. Times are RFC 3339 UTC with nanoseconds;
// sort keys use a fixed-width form so they order as strings.
type Privacy struct {
	api   API
	table string
	now   func() time.Time
}

var (
	_ privacy.Store         = (*Privacy)(nil)
	_ privacy.FilingCounter = (*Privacy)(nil)
)

// NewPrivacy returns the store on the deployed privacy table; now (nil: time.Now) judges
// expiry, since DynamoDB deletes expired records lazily.
func NewPrivacy(api API, table string, now func() time.Time) *Privacy {
	return &Privacy{api: api, table: table, now: clockOrTimeNow(now)}
}

const (
	privSKRequest   = "REQUEST"
	privSKCode      = "CODE"
	privSKOpen      = "OPEN"
	privAuditPrefix = "AUDIT#"
	// privSortTime orders as a string (fixed width, always UTC).
	privSortTime = "2006-01-02T15:04:05.000000000Z"
)

func privReqPK(id string) string { return "REQ#" + id }
func privOpenPK(subject string, t privacy.Type) string {
	return "OPEN#" + subject + "#" + string(t)
}
func privStatusPK(s privacy.Status) string { return "STATUS#" + string(s) }
func privListSK(at time.Time, id string) string {
	return at.UTC().Format(privSortTime) + "#" + id
}

// privTime writes a time as RFC 3339 (nanoseconds), or "" (attribute left out) for zero.
func privTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func privParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

type privCorrection struct {
	Field string `dynamodbav:"field"`
	Value string `dynamodbav:"value"`
}

type privCheckpoint struct {
	Cursor string `dynamodbav:"cursor,omitempty"`
	Done   bool   `dynamodbav:"done"`
	Items  int    `dynamodbav:"items"`
}

type privRequestItem struct {
	PK              string                    `dynamodbav:"pk"`
	SK              string                    `dynamodbav:"sk"`
	GSI1PK          string                    `dynamodbav:"gsi1pk"`
	GSI1SK          string                    `dynamodbav:"gsi1sk"`
	Kind            string                    `dynamodbav:"kind"`
	ID              string                    `dynamodbav:"id"`
	Type            string                    `dynamodbav:"type"`
	Regulation      string                    `dynamodbav:"regulation"`
	Status          string                    `dynamodbav:"status"`
	SubjectHash     string                    `dynamodbav:"subject_hash"`
	Email           string                    `dynamodbav:"email,omitempty"`
	AccountIDs      []string                  `dynamodbav:"account_ids,omitempty"`
	Holds           []string                  `dynamodbav:"holds,omitempty"`
	Details         string                    `dynamodbav:"details,omitempty"`
	Corrections     []privCorrection          `dynamodbav:"corrections,omitempty"`
	ReceivedAt      string                    `dynamodbav:"received_at"`
	AckDue          string                    `dynamodbav:"ack_due,omitempty"`
	ResponseDue     string                    `dynamodbav:"response_due"`
	ExtendedDue     string                    `dynamodbav:"extended_due,omitempty"`
	ExtensionReason string                    `dynamodbav:"extension_reason,omitempty"`
	Due             string                    `dynamodbav:"due"` // the deadline in force (overdue filter)
	AckedAt         string                    `dynamodbav:"acked_at,omitempty"`
	VerifiedAt      string                    `dynamodbav:"verified_at,omitempty"`
	ApprovedAt      string                    `dynamodbav:"approved_at,omitempty"`
	ClosedAt        string                    `dynamodbav:"closed_at,omitempty"`
	DenyReason      string                    `dynamodbav:"deny_reason,omitempty"`
	DenyNote        string                    `dynamodbav:"deny_note,omitempty"`
	SecretHash      string                    `dynamodbav:"secret_hash,omitempty"`
	CodesSent       int                       `dynamodbav:"codes_sent"`
	CodeWindowStart string                    `dynamodbav:"code_window_start,omitempty"`
	Progress        map[string]privCheckpoint `dynamodbav:"progress,omitempty"`
	Version         int                       `dynamodbav:"version"`
	TTL             int64                     `dynamodbav:"ttl"`
}

func privToItem(r privacy.Request) privRequestItem {
	it := privRequestItem{
		PK: privReqPK(r.ID), SK: privSKRequest, GSI1PK: privStatusPK(r.Status), GSI1SK: privListSK(r.ReceivedAt, r.ID),
		Kind: "privacy-request", ID: r.ID, Type: string(r.Type), Regulation: string(r.Regulation), Status: string(r.Status),
		SubjectHash: r.SubjectHash, Email: r.Email, AccountIDs: r.AccountIDs, Holds: r.Holds, Details: r.Details,
		ReceivedAt: privTime(r.ReceivedAt), AckDue: r.Deadlines.Ack.String(), ResponseDue: r.Deadlines.Response.String(),
		ExtendedDue: r.Deadlines.Extended.String(), ExtensionReason: r.Deadlines.ExtensionReason, Due: r.Deadlines.Due().String(),
		AckedAt: privTime(r.AckedAt), VerifiedAt: privTime(r.VerifiedAt), ApprovedAt: privTime(r.ApprovedAt), ClosedAt: privTime(r.ClosedAt),
		DenyReason: string(r.DenyReason), DenyNote: r.DenyNote, SecretHash: r.SecretHash,
		CodesSent: r.CodesSent, CodeWindowStart: privTime(r.CodeWindowStart), Version: r.Version,
		TTL: r.ExpiresAt().Unix(),
	}
	for _, c := range r.Corrections {
		it.Corrections = append(it.Corrections, privCorrection{Field: c.Field, Value: c.Value})
	}
	if len(r.Progress) > 0 {
		it.Progress = map[string]privCheckpoint{}
		for k, v := range r.Progress {
			it.Progress[k] = privCheckpoint{Cursor: v.Cursor, Done: v.Done, Items: v.Items}
		}
	}
	return it
}

func (it privRequestItem) request() (privacy.Request, error) {
	r := privacy.Request{
		ID: it.ID, Type: privacy.Type(it.Type), Regulation: privacy.Regulation(it.Regulation), Status: privacy.Status(it.Status),
		SubjectHash: it.SubjectHash, Email: it.Email, AccountIDs: it.AccountIDs, Holds: it.Holds, Details: it.Details,
		DenyReason: privacy.DenyReason(it.DenyReason), DenyNote: it.DenyNote, SecretHash: it.SecretHash,
		CodesSent: it.CodesSent, Version: it.Version,
	}
	for _, c := range it.Corrections {
		r.Corrections = append(r.Corrections, privacy.Correction{Field: c.Field, Value: c.Value})
	}
	if len(it.Progress) > 0 {
		r.Progress = map[string]privacy.Checkpoint{}
		for k, v := range it.Progress {
			r.Progress[k] = privacy.Checkpoint{Cursor: v.Cursor, Done: v.Done, Items: v.Items}
		}
	}
	var errs []error
	parseT := func(dst *time.Time, s string) {
		t, err := privParseTime(s)
		errs = append(errs, err)
		*dst = t
	}
	parseD := func(dst *privacy.Date, s string) {
		d, err := privacy.ParseDate(s)
		errs = append(errs, err)
		*dst = d
	}
	parseT(&r.ReceivedAt, it.ReceivedAt)
	parseT(&r.AckedAt, it.AckedAt)
	parseT(&r.VerifiedAt, it.VerifiedAt)
	parseT(&r.ApprovedAt, it.ApprovedAt)
	parseT(&r.ClosedAt, it.ClosedAt)
	parseT(&r.CodeWindowStart, it.CodeWindowStart)
	parseD(&r.Deadlines.Ack, it.AckDue)
	parseD(&r.Deadlines.Response, it.ResponseDue)
	parseD(&r.Deadlines.Extended, it.ExtendedDue)
	r.Deadlines.ExtensionReason = it.ExtensionReason
	if err := errors.Join(errs...); err != nil {
		return privacy.Request{}, fmt.Errorf("decode request %s: %w", it.ID, err)
	}
	return r, nil
}

type privCodeItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Kind      string `dynamodbav:"kind"`
	RequestID string `dynamodbav:"request_id"`
	CodeHash  string `dynamodbav:"code_hash"`
	Attempts  int    `dynamodbav:"attempts"`
	ExpiresAt string `dynamodbav:"expires_at"`
	TTL       int64  `dynamodbav:"ttl"`
}

type privOpenItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Kind      string `dynamodbav:"kind"`
	RequestID string `dynamodbav:"request_id"`
	TTL       int64  `dynamodbav:"ttl"`
}

type privAuditItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Kind      string `dynamodbav:"kind"`
	RequestID string `dynamodbav:"request_id"`
	At        string `dynamodbav:"at"`
	ActorKind string `dynamodbav:"actor"`
	ActorID   string `dynamodbav:"actor_id,omitempty"`
	Action    string `dynamodbav:"action"`
	From      string `dynamodbav:"from,omitempty"`
	To        string `dynamodbav:"to,omitempty"`
	Reason    string `dynamodbav:"reason,omitempty"`
	Note      string `dynamodbav:"note,omitempty"`
	TTL       int64  `dynamodbav:"ttl"`
}

func (p *Privacy) codePut(c privacy.Code) (*types.Put, error) {
	item, err := attributevalue.MarshalMap(privCodeItem{
		PK: privReqPK(c.RequestID), SK: privSKCode, Kind: "privacy-code", RequestID: c.RequestID,
		CodeHash: c.Hash, Attempts: c.Attempts, ExpiresAt: privTime(c.ExpiresAt), TTL: c.ExpiresAt.Unix(),
	})
	if err != nil {
		return nil, fmt.Errorf("encode code: %w", err)
	}
	return &types.Put{TableName: &p.table, Item: item}, nil
}

// auditPuts writes entries of r. They expire with r, not after their own time: an entry
// written after receipt (an extension, a late notice) must not outlive its request.
func (p *Privacy) auditPuts(r privacy.Request, entries []privacy.AuditEntry) ([]types.TransactWriteItem, error) {
	var out []types.TransactWriteItem
	for _, e := range entries {
		if e.RequestID == "" || e.RequestID != r.ID {
			return nil, fmt.Errorf("audit entry for request %q is not of request %q", e.RequestID, r.ID)
		}
		item, err := attributevalue.MarshalMap(privAuditItem{
			// The random suffix: entries may share a time.
			PK: privReqPK(e.RequestID), SK: privAuditPrefix + privListSK(e.At, randHex(4)), Kind: "privacy-audit",
			RequestID: e.RequestID, At: privTime(e.At), ActorKind: e.Actor.Kind, ActorID: e.Actor.ID, Action: string(e.Action),
			From: string(e.From), To: string(e.To), Reason: e.Reason, Note: e.Note,
			TTL: r.ExpiresAt().Unix(),
		})
		if err != nil {
			return nil, fmt.Errorf("encode audit entry: %w", err)
		}
		out = append(out, types.TransactWriteItem{Put: &types.Put{TableName: &p.table, Item: item}})
	}
	return out, nil
}

// Create implements privacy.Store in one transaction: request, open marker (which may
// replace an expired one), code and audit entries.
func (p *Privacy) Create(ctx context.Context, r privacy.Request, c privacy.Code, audit []privacy.AuditEntry) error {
	req, err := attributevalue.MarshalMap(privToItem(r))
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	open, err := attributevalue.MarshalMap(privOpenItem{
		PK: privOpenPK(r.SubjectHash, r.Type), SK: privSKOpen, Kind: "privacy-open", RequestID: r.ID, TTL: r.ExpiresAt().Unix(),
	})
	if err != nil {
		return fmt.Errorf("encode open marker: %w", err)
	}
	code, err := p.codePut(c)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &p.table, Item: req, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: putNewOrExpired(p.table, open, p.now())},
		{Put: code},
	}
	puts, err := p.auditPuts(r, audit)
	if err != nil {
		return err
	}
	_, err = p.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append(items, puts...)})
	switch {
	case err == nil:
		return nil
	case acctFailedAt(err, 1):
		return privacy.ErrDuplicate
	case isLostRace(err):
		return fmt.Errorf("create request: %w", privacy.ErrConflict)
	}
	return fmt.Errorf("create request: %w", err)
}

// OpenRequest implements privacy.Store.
func (p *Privacy) OpenRequest(ctx context.Context, subject string, t privacy.Type) (string, error) {
	var it privOpenItem
	if err := p.get(ctx, privOpenPK(subject, t), privSKOpen, &it); err != nil {
		return "", err
	}
	return it.RequestID, nil
}

// Get implements privacy.Store.
func (p *Privacy) Get(ctx context.Context, id string) (privacy.Request, error) {
	var it privRequestItem
	if err := p.get(ctx, privReqPK(id), privSKRequest, &it); err != nil {
		return privacy.Request{}, err
	}
	return it.request()
}

// Save implements privacy.Store.
func (p *Privacy) Save(ctx context.Context, ch privacy.Change) error {
	r := ch.Request
	if ch.PutCode != nil && ch.ConsumeCode != nil {
		return errors.New("save request: a change cannot both replace and consume the code")
	}
	req, err := attributevalue.MarshalMap(privToItem(r))
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: &p.table, Item: req,
		ConditionExpression:       aws.String("#v = :prev"),
		ExpressionAttributeNames:  map[string]string{"#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":prev": &types.AttributeValueMemberN{Value: fmt.Sprint(r.Version - 1)}},
	}}}
	if ch.PutCode != nil {
		put, err := p.codePut(*ch.PutCode)
		if err != nil {
			return err
		}
		items = append(items, types.TransactWriteItem{Put: put})
	}
	if c := ch.ConsumeCode; c != nil {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &p.table, Key: Key(privReqPK(r.ID), privSKCode),
			ConditionExpression:      aws.String("code_hash = :h AND #a = :a"),
			ExpressionAttributeNames: map[string]string{"#a": "attempts"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":h": &types.AttributeValueMemberS{Value: c.Hash},
				":a": &types.AttributeValueMemberN{Value: fmt.Sprint(c.Attempts)},
			},
		}})
	}
	if ch.Close {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &p.table, Key: Key(privOpenPK(r.SubjectHash, r.Type), privSKOpen),
			// Never remove another request's marker (an expired one may have been replaced).
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR request_id = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: r.ID}},
		}})
	}
	puts, err := p.auditPuts(r, ch.Audit)
	if err != nil {
		return err
	}
	_, err = p.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append(items, puts...)})
	if err == nil {
		return nil
	}
	if isLostRace(err) {
		return privacy.ErrConflict
	}
	return fmt.Errorf("save request: %w", err)
}

// Code implements privacy.Store.
func (p *Privacy) Code(ctx context.Context, id string) (privacy.Code, error) {
	var it privCodeItem
	if err := p.get(ctx, privReqPK(id), privSKCode, &it); err != nil {
		return privacy.Code{}, err
	}
	exp, err := privParseTime(it.ExpiresAt)
	if err != nil {
		return privacy.Code{}, fmt.Errorf("decode code: %w", err)
	}
	if !p.now().Before(exp) {
		return privacy.Code{}, privacy.ErrNotFound
	}
	return privacy.Code{RequestID: it.RequestID, Hash: it.CodeHash, Attempts: it.Attempts, ExpiresAt: exp}, nil
}

// FailAttempt implements privacy.Store.
func (p *Privacy) FailAttempt(ctx context.Context, r privacy.Request, c privacy.Code, a privacy.AuditEntry) error {
	if c.RequestID != r.ID {
		return fmt.Errorf("count failed attempt: code of request %q is not of request %q", c.RequestID, r.ID)
	}
	puts, err := p.auditPuts(r, []privacy.AuditEntry{a})
	if err != nil {
		return err
	}
	items := append([]types.TransactWriteItem{{Update: &types.Update{
		TableName: &p.table, Key: Key(privReqPK(c.RequestID), privSKCode),
		UpdateExpression:         aws.String("SET #a = #a + :one"),
		ConditionExpression:      aws.String("code_hash = :h AND #a = :a"),
		ExpressionAttributeNames: map[string]string{"#a": "attempts"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"},
			":h":   &types.AttributeValueMemberS{Value: c.Hash},
			":a":   &types.AttributeValueMemberN{Value: fmt.Sprint(c.Attempts)},
		},
	}}}, puts...)
	_, err = p.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return nil
	}
	if isLostRace(err) {
		return privacy.ErrConflict
	}
	return fmt.Errorf("count failed attempt: %w", err)
}

// AppendAudit implements privacy.Store.
func (p *Privacy) AppendAudit(ctx context.Context, r privacy.Request, entries ...privacy.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	puts, err := p.auditPuts(r, entries)
	if err != nil {
		return err
	}
	if _, err := p.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: puts}); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// Audit implements privacy.Store.
func (p *Privacy) Audit(ctx context.Context, id string) ([]privacy.AuditEntry, error) {
	in := &dynamodb.QueryInput{
		TableName:              &p.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":     &types.AttributeValueMemberS{Value: privReqPK(id)},
			":prefix": &types.AttributeValueMemberS{Value: privAuditPrefix},
		},
		ConsistentRead: aws.Bool(true),
	}
	now := p.now()
	var out []privacy.AuditEntry
	err := queryEach(ctx, p.api, now, in, 0, func(raw map[string]types.AttributeValue) error {
		var it privAuditItem
		if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
			return fmt.Errorf("decode audit entry: %w", err)
		}
		at, err := privParseTime(it.At)
		if err != nil {
			return fmt.Errorf("decode audit entry: %w", err)
		}
		out = append(out, privacy.AuditEntry{
			RequestID: it.RequestID, At: at, Actor: privacy.Actor{Kind: it.ActorKind, ID: it.ActorID}, Action: privacy.Action(it.Action),
			From: privacy.Status(it.From), To: privacy.Status(it.To), Reason: it.Reason, Note: it.Note,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return out, nil
}

// List implements privacy.Store: one gsi1 query per status (newest first, filtered by type
// and deadlines on the server), merged. Each status contributes at most Limit+1 matches,
// which is enough to fill the page and tell whether more follow.
func (p *Privacy) List(ctx context.Context, q privacy.Query) (privacy.Page, error) {
	if q.Limit <= 0 {
		return privacy.Page{}, errors.New("list requests: limit must be positive")
	}
	now := p.now()
	type hit struct {
		sk string
		r  privacy.Request
	}
	var hits []hit
	for _, status := range q.Statuses {
		if !q.OverdueOn.IsZero() && !status.Open() {
			continue // finished requests are never overdue
		}
		in := p.listQuery(status, q, now)
		found := 0
		for found <= q.Limit {
			page, err := p.api.Query(ctx, in)
			if err != nil {
				return privacy.Page{}, fmt.Errorf("list %s requests: %w", status, err)
			}
			for _, raw := range page.Items {
				if Expired(raw, now) {
					continue
				}
				var it privRequestItem
				if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
					return privacy.Page{}, fmt.Errorf("decode request: %w", err)
				}
				r, err := it.request()
				if err != nil {
					return privacy.Page{}, err
				}
				hits = append(hits, hit{it.GSI1SK, r})
				found++
			}
			if len(page.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = page.LastEvaluatedKey
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return strings.Compare(b.sk, a.sk) })
	out := privacy.Page{More: len(hits) > q.Limit}
	for _, h := range hits[:min(len(hits), q.Limit)] {
		out.Requests = append(out.Requests, h.r)
	}
	return out, nil
}

func (p *Privacy) listQuery(status privacy.Status, q privacy.Query, now time.Time) *dynamodb.QueryInput {
	key := "gsi1pk = :s"
	values := map[string]types.AttributeValue{
		":s":   &types.AttributeValueMemberS{Value: privStatusPK(status)},
		":now": epoch(now),
	}
	names := map[string]string{"#ttl": schema.TTLAttribute}
	if q.After != nil {
		key += " AND gsi1sk < :after"
		values[":after"] = &types.AttributeValueMemberS{Value: privListSK(q.After.ReceivedAt, q.After.ID)}
	}
	filter := []string{"#ttl > :now"}
	if q.Type != "" {
		filter = append(filter, "#type = :t")
		names["#type"] = "type"
		values[":t"] = &types.AttributeValueMemberS{Value: string(q.Type)}
	}
	if !q.OverdueOn.IsZero() {
		// Request.Overdue on the server: dates are "YYYY-MM-DD" and compare as strings.
		filter = append(filter, "(#due < :today OR (attribute_exists(ack_due) AND attribute_not_exists(acked_at) AND ack_due < :today))")
		names["#due"] = "due"
		values[":today"] = &types.AttributeValueMemberS{Value: q.OverdueOn.String()}
	}
	return &dynamodb.QueryInput{
		TableName:                 &p.table,
		IndexName:                 aws.String(schema.GSI1.Name),
		KeyConditionExpression:    aws.String(key),
		FilterExpression:          aws.String(strings.Join(filter, " AND ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(min(q.Limit+1, 1000))),
	}
}

// get reads one item with a strongly consistent read (privacy.ErrNotFound if absent or
// past its ttl).
func (p *Privacy) get(ctx context.Context, pk, sk string, v any) error {
	return getDecoded(ctx, p.api, p.table, Key(pk, sk), p.now(), v, privacy.ErrNotFound, sk)
}

// TakeFiling implements privacy.FilingCounter: one conditional increment, so racing
// filings never count past the limit. The key changes with every window, so a record is
// never counted again after its window: no reset is needed, and the ttl removes it.
func (p *Privacy) TakeFiling(ctx context.Context, key string, limit int, windowEnd, now time.Time) (bool, error) {
	_, err := p.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &p.table,
		Key:                      Key("FILINGS#"+key, "COUNT"),
		UpdateExpression:         aws.String("ADD n :one SET #kind = :kind, #ttl = :ttl"),
		ConditionExpression:      aws.String("attribute_not_exists(n) OR n < :limit"),
		ExpressionAttributeNames: map[string]string{"#kind": "kind", "#ttl": schema.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"}, ":limit": &types.AttributeValueMemberN{Value: strconv.Itoa(limit)},
			":kind": &types.AttributeValueMemberS{Value: "filings"}, ":ttl": TTL(windowEnd),
		},
	})
	if IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("count filings: %w", err) // never the key: a network pseudonym
	}
	return true, nil
}
