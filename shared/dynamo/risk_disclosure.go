package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Disclosures is the privacy.DisclosureLog on the privacy table. Layout:
//
//	DISCLOSURE#<recipient>  <at>#<id>  one disclosure; gsi1 DISCLOSED#<subject> / <at>#<id>
//	                                   (what was disclosed about a challenge or network, for
//	                                   access requests); ttl = at + 24 months
//
// Each record is written with a check on its recipient's profile in the accounts table
// (acctCondOpen): a lookup that authenticated before an erasure removed the integrator's
// keys and sites records nothing once the erasure has begun, so the erasure's disclosure
// passes find every record there is.
type Disclosures struct {
	api    API
	tables DisclosureTables
	now    func() time.Time
}

// DisclosureTables names the deployed tables Disclosures works on: the records in
// Privacy, the recipients' profiles in Accounts.
type DisclosureTables struct {
	Privacy, Accounts string
}

var _ privacy.DisclosureLog = (*Disclosures)(nil)

// NewDisclosures returns the log on the deployed tables; now (nil: time.Now) judges expiry.
func NewDisclosures(api API, tables DisclosureTables, now func() time.Time) *Disclosures {
	return &Disclosures{api: api, tables: tables, now: clockOrTimeNow(now)}
}

type disclosureItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	GSI1PK    string `dynamodbav:"gsi1pk"`
	GSI1SK    string `dynamodbav:"gsi1sk"`
	Kind      string `dynamodbav:"kind"`
	ID        string `dynamodbav:"id"`
	At        string `dynamodbav:"at"`
	Recipient string `dynamodbav:"recipient"`
	Sitekey   string `dynamodbav:"sitekey"`
	What      string `dynamodbav:"what"`
	Subject   string `dynamodbav:"subject"`
	TTL       int64  `dynamodbav:"ttl"`
}

func disclosurePK(recipient string) string { return "DISCLOSURE#" + recipient }

// disclosure is the stored record as a privacy.Disclosure; err reports a stored time that
// does not parse (At is then zero).
func (x disclosureItem) disclosure() (privacy.Disclosure, error) {
	at, err := time.Parse(time.RFC3339Nano, x.At)
	return privacy.Disclosure{
		ID: x.ID, At: at, Recipient: x.Recipient, Sitekey: x.Sitekey, Kind: x.What, Subject: x.Subject,
	}, err
}

// maxTransactItems is how many actions one TransactWriteItems may hold.
const maxTransactItems = 100

// RecordDisclosure records one disclosure (RecordDisclosures).
func (d *Disclosures) RecordDisclosure(ctx context.Context, x privacy.Disclosure) error {
	return d.RecordDisclosures(ctx, x)
}

// RecordDisclosures implements privacy.DisclosureLog. A missing id or time is filled in.
// One transaction holds up to 100 actions: the records and one check per recipient among
// them that its profile exists and is not fenced by an erasure (account.ErrErasing,
// account.ErrNotFound otherwise). More records (an address seen on more than 99 of an
// integrator's sites) take one transaction each such batch, and when one fails the records
// of those before it are deleted again. The SDK retries a transaction under the same
// client request token, so a retry whose first attempt landed succeeds instead of finding
// its own records taken.
func (d *Disclosures) RecordDisclosures(ctx context.Context, xs ...privacy.Disclosure) error {
	var batches [][]types.TransactWriteItem
	var checks []string // the recipients the last batch checks, in its first actions
	var puts []types.TransactWriteItem
	for _, x := range xs {
		if x.At.IsZero() {
			x.At = d.now()
		}
		if x.ID == "" {
			x.ID = randHex(8)
		}
		sort := privListSK(x.At, x.ID)
		item, err := attributevalue.MarshalMap(disclosureItem{
			PK: disclosurePK(x.Recipient), SK: sort, GSI1PK: "DISCLOSED#" + x.Subject, GSI1SK: sort,
			Kind: "disclosure", ID: x.ID, At: x.At.UTC().Format(time.RFC3339Nano), Recipient: x.Recipient,
			Sitekey: x.Sitekey, What: x.Kind, Subject: x.Subject, TTL: x.ExpiresAt().Unix(),
		})
		if err != nil {
			return fmt.Errorf("encode disclosure: %w", err)
		}
		put := types.TransactWriteItem{Put: &types.Put{TableName: &d.tables.Privacy, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}}
		last := len(batches) - 1
		checked := last >= 0 && slices.Contains(checks, x.Recipient)
		switch {
		case checked && len(batches[last]) < maxTransactItems:
			batches[last] = append(batches[last], put)
		case !checked && last >= 0 && len(batches[last]) < maxTransactItems-1:
			// Checks stay in front so a cancellation reason's index names the recipient.
			batches[last] = slices.Insert(batches[last], len(checks), d.recipientCheck(x.Recipient))
			checks = append(checks, x.Recipient)
			batches[last] = append(batches[last], put)
		default:
			batches = append(batches, []types.TransactWriteItem{d.recipientCheck(x.Recipient), put})
			checks = []string{x.Recipient}
		}
		puts = append(puts, put)
	}
	written := 0
	for _, batch := range batches {
		_, err := d.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: batch})
		if err == nil {
			written += countPuts(batch)
			continue
		}
		err = fmt.Errorf("record %d disclosures: %w", len(puts), d.refusal(ctx, batch, err))
		if written > 0 {
			// The caller answers nothing, so nothing may stay recorded; the deletion runs
			// even when the request's context is what ended.
			if derr := d.forget(context.WithoutCancel(ctx), puts[:written]); derr != nil {
				return errors.Join(err, fmt.Errorf("delete the %d recorded before the failure: %w", written, derr))
			}
		}
		return err
	}
	return nil
}

// recipientCheck is the check on a recipient's profile that goes with its records.
func (d *Disclosures) recipientCheck(recipient string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &d.tables.Accounts, Key: Key(acctIntegratorPK(recipient), acctSKProfile), ConditionExpression: aws.String(acctCondOpen),
	}}
}

// refusal is the error of a failed batch: the recipient's refusal (account.ErrErasing,
// account.ErrNotFound) when its check failed, err otherwise.
func (d *Disclosures) refusal(ctx context.Context, batch []types.TransactWriteItem, err error) error {
	for i, a := range batch {
		if a.ConditionCheck == nil || !acctFailedAt(err, i) {
			continue
		}
		if rerr := profileRefusal(ctx, d.api, d.tables.Accounts, attrString(a.ConditionCheck.Key, schema.PartitionKey)); rerr != nil {
			return rerr
		}
	}
	return err
}

func countPuts(batch []types.TransactWriteItem) int {
	n := 0
	for _, a := range batch {
		if a.Put != nil {
			n++
		}
	}
	return n
}

// forget deletes the records of puts, which this log wrote.
func (d *Disclosures) forget(ctx context.Context, puts []types.TransactWriteItem) error {
	for start := 0; start < len(puts); start += 25 {
		var reqs []types.WriteRequest
		for _, p := range puts[start:min(start+25, len(puts))] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{
				Key: map[string]types.AttributeValue{"pk": p.Put.Item["pk"], "sk": p.Put.Item["sk"]},
			}})
		}
		if err := writeBatch(ctx, d.api, d.tables.Privacy, reqs, "delete disclosures"); err != nil {
			return err
		}
	}
	return nil
}

// Disclosed lists what was disclosed to a recipient, oldest first (expired records left
// out).
func (d *Disclosures) Disclosed(ctx context.Context, recipient string) ([]privacy.Disclosure, error) {
	var out []privacy.Disclosure
	now := d.now()
	err := queryEach(ctx, d.api, now, &dynamodb.QueryInput{
		TableName:              &d.tables.Privacy,
		KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: disclosurePK(recipient)},
		},
	}, 0, func(it map[string]types.AttributeValue) error {
		var x disclosureItem
		if err := attributevalue.UnmarshalMap(it, &x); err != nil {
			return fmt.Errorf("decode disclosure: %w", err)
		}
		dis, _ := x.disclosure() // an unreadable time is listed as zero
		out = append(out, dis)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list disclosures: %w", err)
	}
	return out, nil
}
