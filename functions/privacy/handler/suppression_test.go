package handler_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/mail"
	"github.com/crowdgate/crowdgate/shared/platform"
)

// The worker erases from SES's suppression list on AWS, and from nothing in the local
// stack, which must not call SES.
func TestSuppressionListIsSESOnAWSOnly(t *testing.T) {
	if _, ok := handler.SuppressionList(&platform.Env{Config: config.Config{MailOutboxDir: t.TempDir()}}).(*mail.Outbox); !ok {
		t.Error("the local stack's suppression list is not the outbox stand-in")
	}
	if _, ok := handler.SuppressionList(&platform.Env{AWS: aws.Config{Region: "eu-west-1"}}).(*mail.SESSuppressions); !ok {
		t.Error("on AWS the suppression list is not SES's")
	}
}
