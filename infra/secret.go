package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
)

// signingKeyID names the first token-signing key; rotation adds newer ids in front.
const signingKeyID = "k1"

// addSigningKeys creates the token-signing key list in Secrets Manager in the format
// config.SigningKeys documents: "kid:base64key[,kid:base64key…]", newest first.
//
// CloudFormation can generate random secrets but not prefix them, so it takes two secrets:
// a generated seed (44 characters from [A-Za-z0-9], which is valid base64 for 33 random
// bytes, ~262 bits) and the key list itself, whose value CloudFormation assembles as
// "k1:<seed>" through a dynamic reference at deploy time. The key never appears in the
// template, and only the key list is granted to functions.
func (s *crowdgate) addSigningKeys() {
	seed := awssecretsmanager.NewSecret(s.stack, jsii.String("SigningKeySeed"), &awssecretsmanager.SecretProps{
		Description: jsii.String("crowdgate: random material of the first token-signing key (read only by CloudFormation)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(44),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
		// Pass tokens live 120 s, so nothing signed with these keys outlives the stack.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	value := awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String(signingKeyID + ":"),
		seed.SecretValue().UnsafeUnwrap(), // a {{resolve:secretsmanager:…}} reference, not the value
	})
	s.signingKeys = awssecretsmanager.NewSecret(s.stack, jsii.String("SigningKeys"), &awssecretsmanager.SecretProps{
		Description:       jsii.String("crowdgate: token-signing keys, kid:base64key pairs, newest first"),
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(value),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
	})
	s.signingSeed = seed
}
