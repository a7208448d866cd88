package mail

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/crowdgate/crowdgate/shared/privacy"
)

// SuppressionAPI is the part of the SES v2 client the suppression list uses.
type SuppressionAPI interface {
	GetSuppressedDestination(ctx context.Context, in *sesv2.GetSuppressedDestinationInput, opts ...func(*sesv2.Options)) (*sesv2.GetSuppressedDestinationOutput, error)
	DeleteSuppressedDestination(ctx context.Context, in *sesv2.DeleteSuppressedDestinationInput, opts ...func(*sesv2.Options)) (*sesv2.DeleteSuppressedDestinationOutput, error)
}

var _ SuppressionAPI = (*sesv2.Client)(nil)

// SESSuppressions is privacy.SuppressionList on SES's account-level suppression list (of
// the client's region), where SES keeps an address that bounced or complained until it
// is removed. Both calls are account-level: IAM grants them on resource "*".
type SESSuppressions struct{ api SuppressionAPI }

// NewSESSuppressions returns the account-level suppression list.
func NewSESSuppressions(api SuppressionAPI) *SESSuppressions { return &SESSuppressions{api: api} }

// Suppressed implements privacy.SuppressionList; SES answers NotFoundException for an
// address it does not list.
func (s *SESSuppressions) Suppressed(ctx context.Context, address string) (privacy.Suppression, bool, error) {
	if err := check(address, ""); err != nil {
		return privacy.Suppression{}, false, err
	}
	out, err := s.api.GetSuppressedDestination(ctx, &sesv2.GetSuppressedDestinationInput{EmailAddress: aws.String(address)})
	var nf *sestypes.NotFoundException
	switch {
	case errors.As(err, &nf):
		return privacy.Suppression{}, false, nil
	case err != nil:
		return privacy.Suppression{}, false, &sesError{op: "ses get suppressed destination", err: err}
	case out.SuppressedDestination == nil:
		return privacy.Suppression{}, false, errors.New("ses get suppressed destination: empty answer")
	}
	d := out.SuppressedDestination
	return privacy.Suppression{Reason: string(d.Reason), Since: aws.ToTime(d.LastUpdateTime).UTC()}, true, nil
}

// Unsuppress implements privacy.SuppressionList; NotFoundException means the address was
// not listed, which is what removing it wants.
func (s *SESSuppressions) Unsuppress(ctx context.Context, address string) (bool, error) {
	if err := check(address, ""); err != nil {
		return false, err
	}
	_, err := s.api.DeleteSuppressedDestination(ctx, &sesv2.DeleteSuppressedDestinationInput{EmailAddress: aws.String(address)})
	var nf *sestypes.NotFoundException
	switch {
	case errors.As(err, &nf):
		return false, nil
	case err != nil:
		return false, &sesError{op: "ses delete suppressed destination", err: err}
	}
	return true, nil
}

// Suppressed implements privacy.SuppressionList: the local stack delivers nothing, so no
// address ever bounces.
func (o *Outbox) Suppressed(context.Context, string) (privacy.Suppression, bool, error) {
	return privacy.Suppression{}, false, nil
}

// Unsuppress implements privacy.SuppressionList: nothing is listed locally.
func (o *Outbox) Unsuppress(context.Context, string) (bool, error) { return false, nil }
