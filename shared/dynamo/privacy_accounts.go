package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

var _ privacy.AccountLookup = (*Accounts)(nil)

// IntegratorsByEmail implements privacy.AccountLookup: the ids of the integrators whose
// e-mail equals email, ignoring case.
//
// Integrator profiles carry no gsi1 keys, so this is a filtered, paginated Scan reading
// only id and email. That is fine for what it serves — privacy requests are rare and the
// accounts table holds one item per integrator, site and secret — but if the table grows
// large, give profiles gsi1 keys (EMAIL#<hash> / INTEGRATOR#<id>) in CreateIntegrator and
// turn this into a Query.
func (a *Accounts) IntegratorsByEmail(ctx context.Context, email string) ([]string, error) {
	ids, err := a.profilesByEmail(ctx, "integrator", email)
	if err != nil {
		return nil, fmt.Errorf("find integrators: %w", err)
	}
	return ids, nil
}

// CustomersByEmail implements privacy.AccountLookup: the ids of the customers whose
// e-mail equals email, ignoring case (the same Scan as IntegratorsByEmail).
func (a *Accounts) CustomersByEmail(ctx context.Context, email string) ([]string, error) {
	ids, err := a.profilesByEmail(ctx, "customer", email)
	if err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	return ids, nil
}

// profilesByEmail returns the ids of the profiles of kind ("integrator" or "customer")
// whose e-mail equals email, ignoring case, with the Scan IntegratorsByEmail describes.
func (a *Accounts) profilesByEmail(ctx context.Context, kind, email string) ([]string, error) {
	want := strings.ToLower(strings.TrimSpace(email))
	var ids []string
	// Profiles carry no ttl, hence the zero now.
	err := scanEach(ctx, a.api, time.Time{}, &dynamodb.ScanInput{
		TableName:                 &a.table,
		FilterExpression:          aws.String("#kind = :k"),
		ProjectionExpression:      aws.String("#id, #email"),
		ExpressionAttributeNames:  map[string]string{"#kind": "kind", "#id": "id", "#email": "email"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: kind}},
	}, func(raw map[string]types.AttributeValue) error {
		var it struct {
			ID    string `dynamodbav:"id"`
			Email string `dynamodbav:"email"`
		}
		if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
			return fmt.Errorf("decode %s: %w", kind, err)
		}
		if strings.ToLower(it.Email) == want {
			ids = append(ids, it.ID)
		}
		return nil
	})
	return ids, err
}
