package main

import (
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsses"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/schedules"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// stackOptions are the knobs of the stack.
type stackOptions struct {
	Code *lambdaCode
	// RateLimit and BurstLimit throttle the whole API (requests per second, bucket size).
	RateLimit, BurstLimit float64
	// Consumers lists the queues (schema.Queue*) whose consumer function is deployed. A
	// queue's consumer joins here once its functions/<name> package exists.
	Consumers []string
}

const (
	defaultRateLimit  = 100
	defaultBurstLimit = 200
)

// crowdgate holds the constructs of the stack by logical name while it is built.
type crowdgate struct {
	stack       awscdk.Stack
	code        *lambdaCode
	tables      map[string]awsdynamodb.Table
	tableKeys   map[string]awskms.IKey // tables with a customer-managed key
	dataKey     awskms.Key
	queues      map[string]awssqs.Queue
	buckets     map[string]awss3.Bucket
	signingKeys awssecretsmanager.Secret
	privacyKey  awssecretsmanager.Secret
	roles       map[string]awsiam.Role
	functions   map[string]awslambda.Function
	logGroups   map[string]awslogs.LogGroup // by function
	deadLetters map[string]awssqs.Queue     // by the queue they belong to
	// scheduleDeadLetters takes the runs Scheduler could not deliver (addSchedules).
	scheduleDeadLetters awssqs.Queue
	// failedRuns: by function a schedule invokes, the runs that failed every retry
	// (keepFailedRuns).
	failedRuns map[string]awssqs.Queue
	api        awsapigatewayv2.HttpApi
	stage      awsapigatewayv2.HttpStage
	params     parameters
	// alarmTopicArn is where alarms go (addAlarms).
	alarmTopicArn *string
	// privacyNotices is the SES configuration set of the privacy notices (addPrivacyNotices).
	privacyNotices awsses.ConfigurationSet
}

// newCrowdgateStack builds the whole service: storage from shared/schema, one Lambda per
// function of shared/routes (and per enabled queue consumer), the HTTP API, the
// token-signing keys and their rotation, scheduled jobs, alarms, cdk-nag suppressions and
// the outputs.
func newCrowdgateStack(scope constructs.Construct, id string, opts stackOptions) (*crowdgate, error) {
	if opts.RateLimit == 0 {
		opts.RateLimit = defaultRateLimit
	}
	if opts.BurstLimit == 0 {
		opts.BurstLimit = defaultBurstLimit
	}
	s := &crowdgate{
		stack: awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
			Description: jsii.String("crowdgate: privacy-first human verification and data labeling"),
		}),
		code:      opts.Code,
		tables:    map[string]awsdynamodb.Table{},
		tableKeys: map[string]awskms.IKey{},
		queues:    map[string]awssqs.Queue{},
		buckets:   map[string]awss3.Bucket{},
		roles:     map[string]awsiam.Role{},
		functions: map[string]awslambda.Function{},
		logGroups: map[string]awslogs.LogGroup{},

		deadLetters: map[string]awssqs.Queue{},
		failedRuns:  map[string]awssqs.Queue{},
	}
	s.addTables()
	s.addQueues()
	s.addBuckets()
	s.addParameters()
	s.addSigningKeys()
	s.addPrivacyKey()
	s.addPrivacyNotices()
	if err := s.addAPI(opts); err != nil {
		return nil, err
	}
	for _, q := range opts.Consumers {
		if _, err := s.consumer(q); err != nil {
			return nil, err
		}
	}
	if err := s.addKeyRotation(); err != nil {
		return nil, err
	}
	if err := s.addSchedules(schedules.Table); err != nil {
		return nil, err
	}
	s.addAlarms()
	s.suppress()
	s.addOutputs()
	return s, nil
}

// addOutputs publishes what an operator or the CLI needs after a deploy. Resource outputs
// are named after their config.EnvName variable (TABLE_ACCOUNTS → TableAccounts).
func (s *crowdgate) addOutputs() {
	out := func(id string, value *string, desc string) {
		awscdk.NewCfnOutput(s.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	url := s.stage.Url() // ends in "/" for the $default stage
	out("ApiUrl", url, "base URL of the API")
	out("WidgetScriptUrl", awscdk.Fn_Join(jsii.String(""), &[]*string{url, jsii.String(strings.TrimPrefix(widgetScript, "/"))}),
		"the widget script to include in pages")
	for _, t := range schema.Tables {
		out(envOutputID("table", t.Name), s.tables[t.Name].TableName(), "DynamoDB table "+t.Name)
	}
	for _, q := range schema.Queues {
		out(envOutputID("queue", q.Name), s.queues[q.Name].QueueUrl(), "SQS queue "+q.Name)
		// What an operator handling a dead-letter alarm needs: the URL to read the
		// messages, the ARN to move them back (docs/DEPLOY.md §6).
		dlq := s.deadLetters[q.Name]
		out(pascal(q.Name)+"DeadLetterQueueUrl", dlq.QueueUrl(), "dead-letter queue of the "+q.Name+" queue")
		out(pascal(q.Name)+"DeadLetterQueueArn", dlq.QueueArn(), "dead-letter queue of the "+q.Name+" queue, to redrive with start-message-move-task")
	}
	out("ScheduleDeadLetterQueueUrl", s.scheduleDeadLetters.QueueUrl(), "SQS queue of the scheduled runs EventBridge Scheduler could not deliver")
	for _, b := range schema.Buckets {
		out(envOutputID("bucket", b.Name), s.buckets[b.Name].BucketName(), "S3 bucket "+b.Name)
	}
	// Sorted, so the template does not change from one synth to the next.
	for _, name := range slices.Sorted(maps.Keys(s.failedRuns)) {
		out(pascal(name)+"FailedRunsQueueUrl", s.failedRuns[name].QueueUrl(),
			"SQS queue of the "+name+" function's scheduled runs that failed every retry")
	}
	out("SigningSecretArn", s.signingKeys.SecretArn(), "Secrets Manager secret with the token-signing keys")
	out("AlarmTopic", s.alarmTopicArn, "SNS topic the alarms notify: the AlarmTopicArn parameter, or the stack's own topic when it is empty")
}

// widgetScript is the route (routes.Table) that serves the widget script.
const widgetScript = "/1/api.js"

func envOutputID(kind, logical string) string {
	return pascal(strings.ToLower(config.EnvName(kind, logical)))
}

// pascal turns a logical name ("risk-events", "queue_answers_url") into a construct id
// part ("RiskEvents", "QueueAnswersUrl").
func pascal(s string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
