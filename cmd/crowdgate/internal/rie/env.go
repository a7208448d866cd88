package rie

import (
	"os"
	"strings"

	"github.com/crowdgate/crowdgate/shared/config"
)

// Resources is what a function is told about its surroundings: the same settings the CDK
// stack puts into a Lambda's environment, with local endpoints.
type Resources struct {
	// Tables, Queues and Buckets map logical names (schema.*) to deployed table names,
	// queue URLs and bucket names.
	Tables, Queues, Buckets map[string]string
	// SigningKeys is SIGNING_KEYS ("kid:base64key,…", see token.NewKey).
	SigningKeys string
	// Endpoints maps an SDK service id ("DynamoDB", "S3", "SQS") to a local endpoint URL,
	// passed as AWS_ENDPOINT_URL_<SERVICE>.
	Endpoints map[string]string
	// Region defaults to us-east-1.
	Region string
	// Extra variables (PUBLIC_URL, LOG_LEVEL, CHALLENGE_TTL_SECONDS, …), added last.
	Extra map[string]string
}

// Env returns the function's environment: resource names under config.EnvName, endpoints,
// the region, and static local credentials with the shared AWS config and credentials
// files switched off, so no developer profile or real credential is ever picked up.
func (r Resources) Env() map[string]string {
	region := r.Region
	if region == "" {
		region = "us-east-1"
	}
	env := map[string]string{
		"AWS_REGION":                  region,
		"AWS_DEFAULT_REGION":          region,
		"AWS_ACCESS_KEY_ID":           "local",
		"AWS_SECRET_ACCESS_KEY":       "local",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"TZ":                          "UTC",
	}
	for logical, name := range r.Tables {
		env[config.EnvName("table", logical)] = name
	}
	for logical, u := range r.Queues {
		env[config.EnvName("queue", logical)] = u
	}
	for logical, name := range r.Buckets {
		env[config.EnvName("bucket", logical)] = name
	}
	if r.SigningKeys != "" {
		env["SIGNING_KEYS"] = r.SigningKeys
	}
	for svc, u := range r.Endpoints {
		env[EndpointEnv(svc)] = u
	}
	for k, v := range r.Extra {
		env[k] = v
	}
	return env
}

// EndpointEnv is the variable the AWS SDKs read a service's endpoint from:
// AWS_ENDPOINT_URL_ + the SDK service id upper-cased with spaces as underscores.
func EndpointEnv(sdkID string) string {
	return "AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(sdkID, " ", "_"))
}
