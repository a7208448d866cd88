package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// parameters are the stack's CloudFormation parameters: values that belong to the account
// the stack is deployed into, given at deploy time (`cdk deploy --parameters K=V`) and kept
// by later deploys that do not repeat them.
type parameters struct {
	// MailFrom is the privacy function's sender address (MAIL_FROM): an SES identity
	// verified in the stack's region.
	MailFrom awscdk.CfnParameter
	// AlarmTopicArn is the SNS topic the alarms notify; empty makes the stack create one.
	AlarmTopicArn awscdk.CfnParameter
}

func (s *crowdgate) addParameters() {
	s.params.MailFrom = awscdk.NewCfnParameter(s.stack, jsii.String("MailFrom"), &awscdk.CfnParameterProps{
		Type:        jsii.String("String"),
		Description: jsii.String("Sender address of privacy-request e-mails (a plain address, verified in SES in this region, e.g. privacy@example.com)"),
		// A plain address: the IAM grant matches it against ses:FromAddress.
		AllowedPattern:        jsii.String(`^[^@\s<>"]+@[^@\s<>"]+\.[^@\s<>"]+$`),
		ConstraintDescription: jsii.String("a plain e-mail address such as privacy@example.com"),
	})
	s.params.AlarmTopicArn = awscdk.NewCfnParameter(s.stack, jsii.String("AlarmTopicArn"), &awscdk.CfnParameterProps{
		Type:        jsii.String("String"),
		Default:     jsii.String(""),
		Description: jsii.String("ARN of an SNS topic for alarm notifications; leave empty to create one (output AlarmTopic) and subscribe to it"),
		// Empty, or an SNS topic ARN in any partition.
		AllowedPattern:        jsii.String(`^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$`),
		ConstraintDescription: jsii.String("empty, or an SNS topic ARN"),
	})
}
