// Package mail sends the service's plain-text e-mails: through Amazon SES v2 on AWS, or
// into an Outbox (memory or a directory) in the local stack, where /_outbox lists them.
// Both implement privacy.Mailer's Send(ctx, to, subject, text), and privacy.SuppressionList
// (SESSuppressions; the Outbox lists nothing). Addresses and bodies are never logged here.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
)

// ErrInvalidMessage: the recipient or subject cannot be sent safely (no lookup or send is
// made).
var ErrInvalidMessage = errors.New("mail: invalid message")

// check refuses recipients that are not one plain address and subjects with line breaks
// (header injection), before anything is sent.
func check(to, subject string) error {
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to {
		return fmt.Errorf("%w: recipient is not a plain address", ErrInvalidMessage)
	}
	if strings.ContainsAny(subject, "\r\n") {
		return fmt.Errorf("%w: subject has a line break", ErrInvalidMessage)
	}
	return nil
}

// SESAPI is the part of the SES v2 client the sender uses.
type SESAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var _ SESAPI = (*sesv2.Client)(nil)

// SES sends through Amazon SES v2 from one verified sender address (MAIL_FROM).
type SES struct {
	api  SESAPI
	from string
	// configSet, when set, is the SES configuration set every message is sent through.
	configSet string
}

// NewSES returns a sender; from must be a plain address or "Name <address>".
func NewSES(api SESAPI, from string) (*SES, error) {
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: MAIL_FROM is not an e-mail address: %w", err)
	}
	return &SES{api: api, from: from}, nil
}

// WithConfigurationSet returns a sender like s that sends through the SES configuration
// set name ("" for none). The privacy notices use one whose suppression options add no
// address to the account-level suppression list (infra: PrivacyNotices). The caller's
// role needs ses:SendEmail on the configuration set too.
func (s *SES) WithConfigurationSet(name string) *SES {
	c := *s
	c.configSet = name
	return &c
}

// Send sends one UTF-8 plain-text message.
func (s *SES) Send(ctx context.Context, to, subject, text string) error {
	if err := check(to, subject); err != nil {
		return err
	}
	utf8 := aws.String("UTF-8")
	var configSet *string
	if s.configSet != "" {
		configSet = aws.String(s.configSet)
	}
	_, err := s.api.SendEmail(ctx, &sesv2.SendEmailInput{
		ConfigurationSetName: configSet,
		FromEmailAddress:     aws.String(s.from),
		Destination:          &sestypes.Destination{ToAddresses: []string{to}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String(subject), Charset: utf8},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String(text), Charset: utf8}},
		}},
	})
	if err != nil {
		return &sesError{op: "ses send", err: err}
	}
	return nil
}

// sesError hides SES's message, which can name the recipient ("… failed the check …:
// jane@example.com"), behind its error code, so logging the error leaks no address.
type sesError struct {
	op  string // "ses send", …
	err error
}

func (e *sesError) Error() string {
	var api smithy.APIError
	if errors.As(e.err, &api) {
		return e.op + ": " + api.ErrorCode()
	}
	if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
		return e.op + ": cancelled or timed out"
	}
	return e.op + ": request failed"
}

func (e *sesError) Unwrap() error { return e.err }
