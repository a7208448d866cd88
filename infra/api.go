package main

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/routes"
)

// accessLogFormat is the API's access log line. It leaves out the source IP and user agent
// on purpose (docs/PRIVACY.md: IPs are only kept truncated or hashed in the risk table);
// identity.userArn is only set on IAM-authorised operator calls.
const accessLogFormat = `{"requestId":"$context.requestId","time":"$context.requestTime",` +
	`"routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol",` +
	`"responseLength":"$context.responseLength","latencyMs":"$context.responseLatency",` +
	`"integrationLatencyMs":"$context.integrationLatency","integrationError":"$context.integrationErrorMessage",` +
	`"error":"$context.error.message","operator":"$context.identity.userArn"}`

// addAPI creates the HTTP API with one route per routes.Table entry, integrated with the
// function the entry names. Operator routes need SigV4-signed calls (IAM authorization);
// public routes authenticate in the handler (sitekeys, secrets, API keys) or need nothing
// (the widget).
func (s *crowdgate) addAPI(opts stackOptions) error {
	api := awsapigatewayv2.NewHttpApi(s.stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:     s.stack.StackName(),
		Description: jsii.String("crowdgate: widget, siteverify and operator API"),
		// No API-level CORS: with it, API Gateway answers every preflight with its one
		// configuration and drops the functions' CORS headers, and the accessibility routes
		// need credentialed CORS that names the caller's origin. The functions answer CORS
		// themselves (web.CORS, web.CORSWithCredentials) through the OPTIONS routes below.
		// The stage is created below: the default one cannot take throttling or access logs.
		CreateDefaultStage: jsii.Bool(false),
	})
	s.api = api
	logs := awslogs.NewLogGroup(s.stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     logRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	s.stage = awsapigatewayv2.NewHttpStage(s.stack, jsii.String("ApiStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(opts.RateLimit),
			BurstLimit: jsii.Number(opts.BurstLimit),
		},
		AccessLogSettings: &accessLogSettings{
			destination: awsapigatewayv2.NewLogGroupLogDestination(logs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat)),
		},
	})
	integrations := map[string]awsapigatewayv2.HttpRouteIntegration{}
	for _, name := range routes.Functions() {
		fn, err := s.function(name)
		if err != nil {
			return err
		}
		integrations[name] = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(pascal(name)+"Integration"), fn,
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0()})
	}
	iam := awsapigatewayv2authorizers.NewHttpIamAuthorizer()
	for _, r := range withPreflights(routes.Table) {
		props := &awsapigatewayv2.HttpRouteProps{
			HttpApi:     api,
			RouteKey:    awsapigatewayv2.HttpRouteKey_With(jsii.String(r.Path), awsapigatewayv2.HttpMethod(r.Method)),
			Integration: integrations[r.Function],
		}
		switch r.Auth {
		case routes.Operator:
			props.Authorizer = iam
		case routes.Public:
		default:
			return fmt.Errorf("route %s: unknown auth %q", r.Pattern(), r.Auth)
		}
		// Same construct id as HttpApi.addRoutes would use.
		route := awsapigatewayv2.NewHttpRoute(api, jsii.String(r.Method+r.Path), props)
		if r.Auth == routes.Public {
			suppressPublicRoute(route, r)
		}
	}
	return nil
}

// withPreflights adds an OPTIONS route (public, same function) for every browser path, so
// the function answers its own CORS preflights.
func withPreflights(table []routes.Route) []routes.Route {
	out := slices.Clone(table)
	seen := map[string]bool{}
	for _, r := range table {
		if r.Browser && !seen[r.Path] {
			seen[r.Path] = true
			out = append(out, routes.Route{Method: "OPTIONS", Path: r.Path, Function: r.Function, Auth: routes.Public, Browser: true, Credentials: r.Credentials})
		}
	}
	return out
}

// accessLogSettings implements awsapigatewayv2.IAccessLogSettings (an interface in the
// CDK, without a constructor).
type accessLogSettings struct {
	destination awsapigatewayv2.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

func (a *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination { return a.destination }
func (a *accessLogSettings) Format() awsapigateway.AccessLogFormat              { return a.format }
