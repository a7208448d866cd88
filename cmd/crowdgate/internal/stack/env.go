package stack

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/localaws"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Region is the region the local stack's clients sign for.
const Region = "us-east-1"

// endpoints is an SDK configuration source that names a base endpoint per service (the
// SDK asks config sources for GetServiceBaseEndpoint, as it does for AWS_ENDPOINT_URL_<SVC>),
// so only the clients built from this configuration talk to the loopback servers; the
// process environment is left alone.
type endpoints map[string]string // SDK service id ("DynamoDB", "S3") → URL

func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	u, ok := e[sdkID]
	return u, ok, nil
}

// LocalAWS returns an SDK configuration for the loopback DynamoDB and S3 servers with the
// stand-ins' static credentials (local S3 checks presigned links with them).
func LocalAWS(dynamoURL, s3URL string) aws.Config {
	return aws.Config{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider(localaws.AccessKeyID, localaws.SecretAccessKey, ""),
		ConfigSources:    []any{endpoints{"DynamoDB": dynamoURL, "S3": s3URL}},
		RetryMaxAttempts: 3,
	}
}

// Names returns the deployed names of the local tables and buckets ("crowdgate-local-<logical>").
func Names() (tables, buckets map[string]string) {
	tables, buckets = map[string]string{}, map[string]string{}
	for _, t := range schema.Tables {
		tables[t.Name] = "crowdgate-local-" + t.Name
	}
	for _, b := range schema.Buckets {
		buckets[b.Name] = "crowdgate-local-" + b.Name
	}
	return tables, buckets
}

// newEnv builds the platform.Env every local function shares: the same configuration a
// Lambda gets from its environment, loopback AWS endpoints and in-process queues.
func newEnv(awsCfg aws.Config, publicURL string, st state, outboxDir string, queues func(string) (platform.Sender, error), log *slog.Logger) *platform.Env {
	tables, buckets := Names()
	qs := map[string]string{}
	for _, q := range schema.Queues {
		qs[q.Name] = "local://queue/" + q.Name
	}
	return &platform.Env{
		Config: config.Config{
			Tables:        tables,
			Queues:        qs,
			Buckets:       buckets,
			SigningKeys:   st.SigningKeys,
			PrivacyKey:    st.PrivacyKey,
			MailOutboxDir: outboxDir,
			PublicURL:     publicURL,
			ChallengeTTL:  5 * time.Minute,
			LogLevel:      "info",
		},
		AWS:     awsCfg,
		Log:     log,
		Now:     time.Now,
		Queues:  queues,
		LocalS3: true,
	}
}
