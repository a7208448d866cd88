package dynamo_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/privacy"
	"github.com/crowdgate/crowdgate/shared/privacy/privacytest"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Every audit entry expires with its request (receipt + 27 months, docs/PRIVACY.md), also
// the entries written weeks after receipt: a wrong code, an extension and its notice, a
// denial and its notice. None may outlive the request, unseen by the compliance API.
func TestPrivacyLateAuditEntriesExpireWithTheRequest(t *testing.T) {
	c, table := localTable(t, schema.TablePrivacy)
	received := time.Now().UTC().Truncate(time.Second)
	clock := privacytest.NewClock(received)
	mail := &privacytest.Mailer{}
	svc, err := privacy.NewService(privacy.Deps{
		Store: dynamo.NewPrivacy(c, table, nil), Mailer: mail, Accounts: privacytest.Accounts{}, Queue: &privacytest.Queue{},
		Clock: clock, Key: bytes.Repeat([]byte{3}, 32),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op := privacy.Actor{Kind: privacy.ActorOperator, ID: "arn:aws:iam::123456789012:user/compliance"}
	filed, err := svc.File(ctx, privacy.FileInput{Email: "late@example.com", Type: privacy.TypeAccess, Regulation: privacy.GDPR})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	wrong := "000000"
	if mail.LastCode("late@example.com") == wrong {
		wrong = "111111"
	}
	if _, _, err := svc.Verify(ctx, filed.ID, wrong); err == nil {
		t.Fatal("a wrong code verified")
	}
	clock.Add(20 * 24 * time.Hour)
	if _, err := svc.Extend(ctx, filed.ID, "many records", op); err != nil {
		t.Fatal(err)
	}
	clock.Add(60 * 24 * time.Hour)
	if _, err := svc.Deny(ctx, filed.ID, privacy.DenyNoMatch, "", op); err != nil {
		t.Fatal(err)
	}

	out, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName: &table, KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "REQ#" + filed.ID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(received.AddDate(0, privacy.RetentionMonths, 0).Unix(), 10)
	audits := map[string]bool{}
	for _, it := range out.Items {
		sk := it["sk"].(*types.AttributeValueMemberS).Value
		if sk == "CODE" {
			continue
		}
		ttl, ok := it[schema.TTLAttribute].(*types.AttributeValueMemberN)
		if !ok || ttl.Value != want {
			t.Errorf("%s: ttl %v, want the request's %s (receipt + %d months)", sk, it[schema.TTLAttribute], want, privacy.RetentionMonths)
		}
		if a, ok := it["action"].(*types.AttributeValueMemberS); ok {
			audits[a.Value] = true
		}
	}
	for _, a := range []privacy.Action{privacy.ActionFiled, privacy.ActionCodeSent, privacy.ActionVerifyFailed, privacy.ActionExtended, privacy.ActionDenied, privacy.ActionNoticeSent} {
		if !audits[string(a)] {
			t.Errorf("no %s entry to check (have %v)", a, audits)
		}
	}
}
