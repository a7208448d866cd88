package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// sizing is one function's timeout and memory. On arm64 Lambda, CPU scales with memory.
type sizing struct {
	Timeout time.Duration
	Memory  int // MB
	Why     string
}

// sizes holds every function's sizing with the reason for it.
var sizes = map[string]sizing{
	routes.FunctionChallenge:     {10 * time.Second, 512, "visitor-facing: grades answers, scores risk and presigns media; more CPU is lower latency"},
	routes.FunctionVerify:        {5 * time.Second, 256, "one read and one conditional write; integrators wait on it inside their own request"},
	routes.FunctionAdmin:         {10 * time.Second, 256, "rare operator calls against the accounts table"},
	routes.FunctionRisk:          {10 * time.Second, 256, "a batch of 10 risk events is 20 small transactions, one after another (counters, then the daily aggregate); a lookup is a few reads and one write; the risk-events queue's visibility is 60 s, six times it"},
	"consensus":                  {50 * time.Second, 1024, "10 answers take under a second; the rest is for a re-estimation part (writes stop 5 s before the timeout; the job in memory, ~3.6 KB/item at peak: ~170k items of 9 answers); the answers queue's visibility is 300 s, six times it"},
	"export":                     {10 * time.Minute, 512, "streams a whole job from DynamoDB into one S3 object (5 MiB parts, memory flat at ~20 MB); more memory buys CPU for encoding; the exports queue's visibility is 60 min, six times it"},
	routes.FunctionJobs:          {29 * time.Second, 512, "customer API: item batches, upload checks (one ranged GET and an image header decode each) and bounded deletes; the HTTP API integration limit is 30 s"},
	routes.FunctionAccessibility: {10 * time.Second, 256, "visitor-facing pages and text questions: a few reads and conditional writes, one SES call per sign-up"},
	routes.FunctionPrivacy:       {10 * time.Second, 256, "a few table reads and writes per request plus one SES call when a code or answer is mailed"},
	functionPrivacyWorker:        {10 * time.Minute, 512, "steps of at most a few hundred DynamoDB or S3 calls, checkpointed; stops two minutes before the timeout and continues in a new message; the privacy queue's visibility is 60 min, six times it"},
	functionRotateKeys:           {30 * time.Second, 128, "a handful of Secrets Manager or DynamoDB calls per invocation, nothing held in memory; the timeout leaves room for SDK retries"},
}

// Queue consumer event-source settings.
const (
	consumerMaxConcurrency = 5 // caps the table write rate a burst of messages can cause
	logRetention           = awslogs.RetentionDays_ONE_MONTH
)

// function creates one Lambda: provided.al2023 on arm64 running <lambdaDir>/<name>/bootstrap,
// with its own role (no managed policies), log group, X-Ray tracing and the grants and
// environment of its access entry.
func (s *crowdgate) function(name string) (awslambda.Function, error) {
	size, ok := sizes[name]
	if !ok {
		return nil, fmt.Errorf("function %s: no sizing entry", name)
	}
	id := pascal(name)
	logs := awslogs.NewLogGroup(s.stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     logRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(s.stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("crowdgate " + name + " function"),
	})
	// Instead of AWSLambdaBasicExecutionRole, which may write to every log group.
	logs.GrantWrite(role)
	env, err := s.grant(name, role)
	if err != nil {
		return nil, err
	}
	// Go does not know the function's memory size: without a limit the heap may grow to
	// twice the live data and the function is killed instead of collecting harder.
	env["GOMEMLIMIT"] = jsii.String(goMemLimit(size.Memory))
	code, err := s.code.Asset(name)
	if err != nil {
		return nil, err
	}
	fn := awslambda.NewFunction(s.stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
		Description:   jsii.String("crowdgate " + name + ": " + size.Why),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          code,
		Timeout:       awscdk.Duration_Seconds(jsii.Number(size.Timeout.Seconds())),
		MemorySize:    jsii.Number(float64(size.Memory)),
		Tracing:       awslambda.Tracing_ACTIVE,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		LogGroup:      logs,
		Role:          role,
		Environment:   &env,
	})
	if slices.Contains(s.code.Placeholders(), name) {
		awscdk.Annotations_Of(fn).AddWarningV2(jsii.String("crowdgate:placeholder-code"),
			jsii.String("build/lambda/"+name+"/bootstrap does not exist; the function is a placeholder that fails every call. Run `make build` before deploying."), nil)
	}
	s.roles[name] = role
	s.functions[name] = fn
	s.logGroups[name] = logs
	return fn, nil
}

// consumer creates the consumer function of one queue (schema.Queue.Consumer) with its
// SQS event source: batches, partial batch responses and a concurrency cap.
func (s *crowdgate) consumer(queue string) (awslambda.Function, error) {
	i := slices.IndexFunc(schema.Queues, func(q schema.Queue) bool { return q.Name == queue })
	if i < 0 {
		return nil, fmt.Errorf("consumer: unknown queue %q", queue)
	}
	q := schema.Queues[i]
	if size, ok := sizes[q.Consumer]; ok && size.Timeout != time.Duration(q.TimeoutSeconds)*time.Second {
		// The queue's visibility is sized from the timeout the schema names (six times it).
		return nil, fmt.Errorf("consumer %s: timeout %s, but queue %s is sized for %ds", q.Consumer, size.Timeout, q.Name, q.TimeoutSeconds)
	}
	// A function that also serves HTTP routes (risk) already exists: it gets the queue as
	// a second event source.
	fn, ok := s.functions[q.Consumer]
	if !ok {
		var err error
		if fn, err = s.function(q.Consumer); err != nil {
			return nil, err
		}
	}
	fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(s.queues[q.Name], &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(q.BatchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(consumerMaxConcurrency),
	}))
	return fn, nil
}

// goMemLimit is the Go runtime's soft memory limit for a function of memoryMB: 90%, leaving
// the rest to the runtime's own and the Lambda runtime interface's memory.
func goMemLimit(memoryMB int) string { return fmt.Sprintf("%dMiB", memoryMB*9/10) }
