package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/schedules"
)

// functionRotateKeys rotates the signing keys and destroys expired salts (functions/rotatekeys).
const functionRotateKeys = schedules.FunctionRotateKeys

// signingKeyRotationDays is how often the token-signing key is replaced.
const signingKeyRotationDays = 30

// generatedKey is what Secrets Manager generates for a key that must be valid base64 of at
// least 32 bytes: 44 characters of [A-Za-z0-9] are valid base64 for 33 random bytes
// (~262 bits) for every decoder.
func generatedKey() *awssecretsmanager.SecretStringGenerator {
	return &awssecretsmanager.SecretStringGenerator{
		PasswordLength:     jsii.Number(44),
		ExcludePunctuation: jsii.Bool(true),
		IncludeSpace:       jsii.Bool(false),
	}
}

// addSigningKeys creates the token-signing key secret. CloudFormation generates its first
// value, a bare base64 key, which token.NewSigner accepts with a kid derived from the key's
// hash; the rotation function (addKeyRotation) turns it into "kid:base64key,…" lists. The
// template never holds a value, so a later deploy cannot overwrite a rotated list: the
// generator only runs when the secret is created.
func (s *crowdgate) addSigningKeys() {
	s.signingKeys = awssecretsmanager.NewSecret(s.stack, jsii.String("SigningKeys"), &awssecretsmanager.SecretProps{
		Description:          jsii.String("crowdgate: token-signing keys, kid:base64key pairs newest first (a bare key before the first rotation)"),
		GenerateSecretString: generatedKey(),
		// Pass tokens live 120 s, so nothing signed with these keys outlives the stack.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
}

// addPrivacyKey creates the key of the privacy table's subject and code hashes
// (PRIVACY_KEY_SECRET_ARN). It is never rotated: the hashes of a request must match for as
// long as the request log is kept, and it is retained with the table it keys.
func (s *crowdgate) addPrivacyKey() {
	s.privacyKey = awssecretsmanager.NewSecret(s.stack, jsii.String("PrivacyKey"), &awssecretsmanager.SecretProps{
		Description:          jsii.String("crowdgate: key of the privacy table's identity hashes (base64, never rotated)"),
		GenerateSecretString: generatedKey(),
		RemovalPolicy:        awscdk.RemovalPolicy_RETAIN,
	})
}

// addKeyRotation deploys the rotatekeys function and makes it the signing keys' rotation
// Lambda, every signingKeyRotationDays days. The L1 rotation schedule is used because the
// L2 one grants secretsmanager:GetRandomPassword on "*"; the function draws its keys from
// crypto/rand and its role (grant table) names the secret only.
func (s *crowdgate) addKeyRotation() error {
	fn, err := s.function(functionRotateKeys)
	if err != nil {
		return err
	}
	invoke := awslambda.NewCfnPermission(s.stack, jsii.String("SigningKeysRotationInvoke"), &awslambda.CfnPermissionProps{
		Action:        jsii.String("lambda:InvokeFunction"),
		FunctionName:  fn.FunctionArn(),
		Principal:     awsiam.NewServicePrincipal(jsii.String("secretsmanager.amazonaws.com"), nil).Service(),
		SourceAccount: s.stack.Account(), // only Secrets Manager acting for this account
	})
	rotation := awssecretsmanager.NewCfnRotationSchedule(s.stack, jsii.String("SigningKeysRotation"), &awssecretsmanager.CfnRotationScheduleProps{
		SecretId:          s.signingKeys.SecretArn(),
		RotationLambdaArn: fn.FunctionArn(),
		RotationRules: &awssecretsmanager.CfnRotationSchedule_RotationRulesProperty{
			AutomaticallyAfterDays: jsii.Number(signingKeyRotationDays),
		},
		// A deploy must not change the signing key as a side effect; the first rotation
		// comes signingKeyRotationDays after the deploy, or by `aws secretsmanager
		// rotate-secret` (docs/DEPLOY.md).
		RotateImmediatelyOnUpdate: jsii.Bool(false),
	})
	// Secrets Manager checks that it may invoke the function when the schedule is set.
	rotation.AddResourceDependency(invoke, jsii.String("Secrets Manager checks its invoke permission when rotation is configured"))
	return nil
}
