package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// Alarm settings. Every alarm looks at one 5-minute period and also notifies when it
// recovers.
const (
	alarmPeriodMinutes = 5
	// api5xxThreshold: one 5xx is usually a store call that failed once and was retried by
	// the integrator; five in five minutes is a pattern worth a look. Function errors,
	// throttles and dead letters alarm at the first one: each is a failure nobody retries.
	api5xxThreshold = 5
)

// backlogSeconds is the age past which a queue's oldest message alarms: every receive it
// may get, each holding it for a visibility timeout, before SQS moves it to the
// dead-letter queue. An older message is not being received, and would be deleted
// unprocessed at the end of the queue's retention.
func backlogSeconds(q schema.Queue) int { return q.MaxReceives * q.VisibilitySeconds }

// addAlarms creates the alarms and the topic they notify: the AlarmTopicArn parameter, or
// when it is empty a topic of the stack's own (CreateAlarmTopic condition), so a first
// deploy works without preparing one. Alarms:
//   - per dead-letter queue: any message visible (a message failed every retry);
//   - per queue: its oldest message older than its retries could take (backlogSeconds);
//   - the schedules' dead-letter queue: any message (a run Scheduler could not deliver);
//   - per scheduled function's failed-runs queue: any message (a run failed every retry);
//   - per function: any error, any throttle;
//   - per queue consumer: any ERROR line in its log (errorLogsMetric);
//   - the API: 5xx responses.
func (s *crowdgate) addAlarms() {
	create := awscdk.NewCfnCondition(s.stack, jsii.String("CreateAlarmTopic"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionEquals(s.params.AlarmTopicArn.ValueAsString(), jsii.String("")),
	})
	own := awssns.NewCfnTopic(s.stack, jsii.String("StackAlarmTopic"), &awssns.CfnTopicProps{
		DisplayName: jsii.String("crowdgate alarms"),
	})
	own.CfnOptions().SetCondition(create)
	policy := awssns.NewCfnTopicPolicy(s.stack, jsii.String("StackAlarmTopicPolicy"), &awssns.CfnTopicPolicyProps{
		Topics: jsii.Strings(*own.Ref()),
		PolicyDocument: awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("TLSOnly"),
				Effect:     awsiam.Effect_DENY,
				Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
				Actions:    jsii.Strings("sns:Publish"),
				Resources:  jsii.Strings(*own.Ref()),
				Conditions: &map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			}),
			// The topic has no default policy once it has this one: let this account's
			// alarms publish.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("AccountAlarms"),
				Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
				Actions:    jsii.Strings("sns:Publish"),
				Resources:  jsii.Strings(*own.Ref()),
				Conditions: &map[string]any{
					"StringEquals": map[string]any{"aws:SourceAccount": s.stack.Account()},
					"ArnLike": map[string]any{"aws:SourceArn": s.stack.FormatArn(&awscdk.ArnComponents{
						Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"), ResourceName: jsii.String("*"),
						ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
					})},
				},
			}),
		}}),
	})
	policy.CfnOptions().SetCondition(create)
	s.alarmTopicArn = awscdk.Token_AsString(awscdk.Fn_ConditionIf(create.LogicalId(), own.Ref(), s.params.AlarmTopicArn.ValueAsString()), nil)
	awscdk.Validations_Of(s.stack).Acknowledge(&awscdk.Acknowledgment{
		Id:     jsii.String("CloudFormation-Validate::W1001"),
		Reason: jsii.String("The AlarmTopic output names the conditional StackAlarmTopic only inside Fn::If on its own condition."),
	})
	notify := awscloudwatchactions.NewSnsAction(awssns.Topic_FromTopicArn(s.stack, jsii.String("AlarmTarget"), s.alarmTopicArn))

	period := awscdk.Duration_Minutes(jsii.Number(alarmPeriodMinutes))
	alarm := func(id string, metric awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator, desc string) {
		a := awscloudwatch.NewAlarm(s.stack, jsii.String(id), &awscloudwatch.AlarmProps{
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(1),
			DatapointsToAlarm:  jsii.Number(1),
			// No data means nothing happened (no invocations, empty queue).
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
			AlarmDescription: jsii.String("crowdgate: " + desc),
		})
		a.AddAlarmAction(notify)
		a.AddOkAction(notify)
		awscdk.Validations_Of(a).Acknowledge(&awscdk.Acknowledgment{
			Id:     jsii.String("CloudFormation-Validate::W1030"),
			Reason: jsii.String("The action is Fn::If(CreateAlarmTopic, the stack's topic, AlarmTopicArn): the parameter's empty default is never used as an ARN."),
		})
	}

	// anyMessage alarms on a queue whose every message is a failure (a dead letter).
	anyMessage := func(id string, q awssqs.IQueue, desc string) {
		alarm(id, q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}),
			0, awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, desc)
	}
	for _, q := range schema.Queues {
		anyMessage(pascal(q.Name)+"DeadLetterAlarm", s.deadLetters[q.Name],
			"messages of the "+q.Name+" queue failed every retry and wait in its dead-letter queue: inspect them, fix the cause, redrive (docs/DEPLOY.md)")
	}
	anyMessage("ScheduleDeadLetterAlarm", s.scheduleDeadLetters,
		"a scheduled job's run could not be delivered to its function or queue after its retries: its dead letter says which and why (docs/DEPLOY.md)")
	for _, name := range slices.Sorted(maps.Keys(s.failedRuns)) {
		anyMessage(pascal(name)+"FailedRunsAlarm", s.failedRuns[name],
			"a scheduled run of the "+name+" function failed every retry: its record in "+pascal(name)+"FailedRunsQueue holds the payload and the error (docs/DEPLOY.md)")
	}
	for _, q := range schema.Queues {
		alarm(pascal(q.Name)+"BacklogAlarm",
			s.queues[q.Name].MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}),
			float64(backlogSeconds(q)), awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			fmt.Sprintf("a message of the %s queue has waited longer than its %d tries could take: the %s function is not receiving (event source disabled, throttled) or falls behind; SQS deletes messages unprocessed after %d days, without a dead letter",
				q.Name, q.MaxReceives, q.Consumer, queueRetentionDays))
	}
	names := make([]string, 0, len(s.functions))
	for name := range s.functions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fn := s.functions[name]
		opts := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
		alarm(pascal(name)+"ErrorsAlarm", fn.MetricErrors(opts), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			"the "+name+" function failed (crash, timeout or returned error); see its log group")
		alarm(pascal(name)+"ThrottlesAlarm", fn.MetricThrottles(opts), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			"the "+name+" function was throttled (account concurrency exhausted)")
	}
	// A consumer reports a message that failed as a batch item failure, not as an error
	// of the invocation, so the Errors alarm never sees it, and the dead-letter alarm only
	// after every retry; nor does it see a pass that gave up ("re-estimation gave up"),
	// which fails nothing. Each of these logs an ERROR line.
	consumers := map[string]bool{}
	for _, q := range schema.Queues {
		consumers[q.Consumer] = true
	}
	for _, name := range slices.Sorted(maps.Keys(consumers)) {
		if s.logGroups[name] == nil {
			continue
		}
		alarm(pascal(name)+"ErrorLogsAlarm", s.errorLogsMetric(name, period), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			"the "+name+" function logged an ERROR line (a message that failed and will be retried, or work it gave up): its log group says which (docs/DEPLOY.md)")
	}
	alarm("Api5xxAlarm", s.api.MetricServerError(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}),
		api5xxThreshold, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		"the API answered with 5xx responses; see the functions' logs and the access log")
}

// errorLogsNamespace holds the metrics the functions' log groups count (metric filters).
const errorLogsNamespace = "crowdgate"

// errorLogsMetric counts the ERROR lines (log/slog's JSON "level") in a function's log
// group, as <Function>ErrorLogs.
func (s *crowdgate) errorLogsMetric(name string, period awscdk.Duration) awscloudwatch.IMetric {
	f := awslogs.NewMetricFilter(s.stack, jsii.String(pascal(name)+"ErrorLogsFilter"), &awslogs.MetricFilterProps{
		LogGroup:        s.logGroups[name],
		FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$.level"), jsii.String("="), jsii.String("ERROR")),
		MetricNamespace: jsii.String(errorLogsNamespace),
		MetricName:      jsii.String(pascal(name) + "ErrorLogs"),
		MetricValue:     jsii.String("1"),
	})
	return f.Metric(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")})
}
