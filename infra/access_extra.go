package main

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsses"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/config"
)

// Actions the grants below spell out; no L2 grant matches them without a wildcard.
var (
	// The rotation protocol: read the current and pending versions, write the pending
	// one, move AWSCURRENT. No GetRandomPassword: keys come from crypto/rand.
	signingKeyRotationActions = []string{
		"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
		"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
	}
	objectDeleteActions  = []string{"s3:DeleteObject", "s3:DeleteObjectVersion"}
	bucketListingActions = []string{"s3:ListBucket", "s3:ListBucketVersions"}
	bucketListActions    = []string{"s3:ListBucket"}
	uploadAbortActions   = []string{"s3:AbortMultipartUpload"}
	sendEmailActions     = []string{"ses:SendEmail"}
)

// grantMore applies the access entries beyond tables, queues, buckets and reading the
// signing keys, adding their environment variables to env.
func (s *crowdgate) grantMore(a access, role awsiam.IRole, env map[string]*string) error {
	for _, name := range a.DeleteBuckets {
		b, ok := s.buckets[name]
		if !ok {
			return fmt.Errorf("unknown bucket %q", name)
		}
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(objectDeleteActions...), ResourceArns: jsii.Strings(*b.ArnForObjects(jsii.String("*"))),
		})
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(bucketListingActions...), ResourceArns: jsii.Strings(*b.BucketArn()),
		})
		env[config.EnvName("bucket", name)] = b.BucketName()
	}
	for _, name := range a.ListBuckets {
		b, ok := s.buckets[name]
		if !ok {
			return fmt.Errorf("unknown bucket %q", name)
		}
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(bucketListActions...), ResourceArns: jsii.Strings(*b.BucketArn()),
		})
	}
	for _, name := range a.AbortUploads {
		b, ok := s.buckets[name]
		if !ok {
			return fmt.Errorf("unknown bucket %q", name)
		}
		if !slices.Contains(a.WriteBuckets, name) {
			return fmt.Errorf("bucket %s: an abort grant needs a write grant (its parts, its name)", name)
		}
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(uploadAbortActions...), ResourceArns: jsii.Strings(*b.ArnForObjects(jsii.String("*"))),
		})
	}
	if a.RotateSigningKeys {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee:      role,
			Actions:      jsii.Strings(signingKeyRotationActions...),
			ResourceArns: jsii.Strings(*s.signingKeys.SecretArn()),
		})
		env["SIGNING_SECRET_ARN"] = s.signingKeys.SecretArn()
	}
	if a.PrivacyKey {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(secretReadActions...), ResourceArns: jsii.Strings(*s.privacyKey.SecretArn()),
		})
		env["PRIVACY_KEY_SECRET_ARN"] = s.privacyKey.SecretArn()
	}
	if a.SendEmail {
		from := s.params.MailFrom.ValueAsString()
		resources := []*string{sesIdentities(s.stack)}
		if a.SendNotices {
			resources = append(resources, s.noticeSetArn())
			env["MAIL_NOTICE_CONFIGURATION_SET"] = s.privacyNotices.ConfigurationSetName()
		}
		// Any verified identity of the account (the address or its domain), but only as
		// the MailFrom address.
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee:      role,
			Actions:      jsii.Strings(sendEmailActions...),
			ResourceArns: &resources,
			Conditions: &map[string]*map[string]any{
				"StringEquals": {"ses:FromAddress": from},
			},
		})
		env["MAIL_FROM"] = from
	}
	return nil
}

// addPrivacyNotices creates the SES configuration set the privacy notices are sent
// through. Its suppression options list no reason (SuppressedReasons: []), so a notice that
// bounces or draws a complaint does not put the address on the account-level suppression
// list, where an erasure's completion notice would otherwise return the address the
// erasure has just removed. Messages sent through it are not held back by that list
// either; the codes, which anyone may request for any address, keep the account's
// settings.
func (s *crowdgate) addPrivacyNotices() {
	s.privacyNotices = awsses.NewConfigurationSet(s.stack, jsii.String("PrivacyNotices"), &awsses.ConfigurationSetProps{
		DisableSuppressionList: jsii.Bool(true),
	})
}

// noticeSetArn is the ARN of the PrivacyNotices configuration set, which ses:SendEmail
// through it needs besides the identity's.
func (s *crowdgate) noticeSetArn() *string {
	return s.stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ses"),
		Resource:     jsii.String("configuration-set"),
		ResourceName: s.privacyNotices.ConfigurationSetName(),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}

// sesIdentities is the ARN pattern of the account's SES identities in the stack's region.
func sesIdentities(stack awscdk.Stack) *string {
	return stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ses"),
		Resource:     jsii.String("identity"),
		ResourceName: jsii.String("*"),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}
