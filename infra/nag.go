package main

import (
	"regexp"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// suppress records the cdk-nag findings the design accepts, each on one resource with its
// reason. The IAM ones are derived from the grant table, so a new grant that brings a new
// wildcard resource fails the synth until someone writes down why it is fine.
func (s *crowdgate) suppress() {
	suppressOne(s.privacyKey, "AwsSolutions-SMG4",
		"Keys the privacy table's identity hashes, which must keep matching for as long as a request is kept (27 months); rotating it would orphan every request. Only the privacy function can read it.")
	for name, role := range s.roles {
		policy := role.Node().TryFindChild(jsii.String("DefaultPolicy"))
		if policy == nil {
			continue
		}
		a := grants[name]
		suppressions := []*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("X-Ray PutTraceSegments/PutTelemetryRecords, and (privacy worker) SES Get/DeleteSuppressedDestination, support no resource-level permissions."),
			AppliesTo: &[]any{"Resource::*"},
		}}
		var objects []any
		for _, b := range slices.Compact(slices.Sorted(slices.Values(slices.Concat(a.ReadBuckets, a.WriteBuckets, a.DeleteBuckets)))) {
			objects = append(objects, logicalArnPattern(pascal(b)+"Bucket", "/*"))
		}
		if a.SendEmail {
			suppressions = append(suppressions, &cdknag.NagPackSuppression{
				Id:        jsii.String("AwsSolutions-IAM5"),
				Reason:    jsii.String("ses:SendEmail on the account's SES identities (the MailFrom address or its domain may be the verified one), conditioned on ses:FromAddress = MailFrom."),
				AppliesTo: &[]any{"Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*"},
			})
		}
		if len(objects) > 0 {
			suppressions = append(suppressions, &cdknag.NagPackSuppression{
				Id:        jsii.String("AwsSolutions-IAM5"),
				Reason:    jsii.String("Object actions on <bucket>/* of one bucket: object keys are generated at run time."),
				AppliesTo: &objects,
			})
		}
		cdknag.NagSuppressions_AddResourceSuppressions(policy, &suppressions, jsii.Bool(false))
	}
}

// suppressPublicRoute accepts APIG4 (no API Gateway authorizer) on one public route.
func suppressPublicRoute(route awsapigatewayv2.HttpRoute, r routes.Route) {
	reason := "Public by design: the route authenticates in the handler (site secret or API key)."
	if r.Browser {
		reason = "Public by design: the widget calls it from anonymous visitors' browsers; the sitekey and challenge id are checked in the handler and the stage is throttled."
	}
	suppressOne(route, "AwsSolutions-APIG4", reason)
}

func suppressOne(c constructs.IConstruct, id, reason string) {
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String(id),
		Reason: jsii.String(reason),
	}}, jsii.Bool(true))
}

// logicalArnPattern matches cdk-nag's rendering of "<LogicalId.Arn>suffix" for a top-level
// construct id (the logical id is the id plus an 8-character hash).
func logicalArnPattern(constructID, suffix string) cdknag.RegexAppliesTo {
	return cdknag.RegexAppliesTo{Regex: jsii.String("/^Resource::<" + constructID + "[0-9A-F]{8}\\.Arn>" + regexp.QuoteMeta(suffix) + "$/")}
}
