package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/schedules"
)

// Retry policy of every schedule: a missed hour or day is caught by the next run.
const (
	scheduleRetries   = 3
	scheduleMaxAgeSec = 3600
)

// Lambda's retries of a scheduled (asynchronous) run that fails, and how long a run may
// wait for them (throttled, say): Lambda's defaults, the most it allows, written out so
// the template and infra/README.md state them.
const (
	asyncRetries   = 2
	asyncMaxAgeSec = 6 * 3600
)

// addSchedules creates each schedule with its own role, which Scheduler may assume only
// for this account and which may reach only that schedule's target.
func (s *crowdgate) addSchedules(list []schedules.Job) error {
	// A run Scheduler cannot deliver after its retries (the role, queue or function refusing
	// it) would vanish without a function error or a message: it goes here, and alarms.
	s.scheduleDeadLetters = s.deadLetterQueue("ScheduleDeadLetterQueue")
	suppressOne(s.scheduleDeadLetters, "AwsSolutions-SQS3",
		"It is a dead-letter queue: the EventBridge Scheduler schedules' (Target.DeadLetterConfig), which no SQS redrive policy names.")
	configured := map[string]bool{} // functions whose failed runs go to their queue
	for _, sc := range list {
		role := awsiam.NewRole(s.stack, jsii.String(sc.Name+"ScheduleRole"), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
				Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": s.stack.Account()}},
			}),
			Description: jsii.String("crowdgate: EventBridge Scheduler role of the " + sc.Name + " schedule"),
		})
		var target *string
		switch {
		case sc.Function != "" && sc.Queue == "":
			fn, ok := s.functions[sc.Function]
			if !ok {
				return fmt.Errorf("schedule %s: function %q is not deployed", sc.Name, sc.Function)
			}
			target = fn.FunctionArn()
			if !configured[sc.Function] {
				if err := s.keepFailedRuns(sc.Function, fn); err != nil {
					return fmt.Errorf("schedule %s: %w", sc.Name, err)
				}
				configured[sc.Function] = true
			}
			// Only the unqualified function: no versions or aliases (the L2 grant adds ":*").
			awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
				Grantee: role, Actions: jsii.Strings("lambda:InvokeFunction"), ResourceArns: &[]*string{target},
			})
		case sc.Queue != "" && sc.Function == "":
			q, ok := s.queues[sc.Queue]
			if !ok {
				return fmt.Errorf("schedule %s: unknown queue %q", sc.Name, sc.Queue)
			}
			target = q.QueueArn()
			awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
				Grantee: role, Actions: jsii.Strings("sqs:SendMessage"), ResourceArns: &[]*string{target},
			})
		default:
			return fmt.Errorf("schedule %s: set exactly one of Function and Queue", sc.Name)
		}
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings("sqs:SendMessage"), ResourceArns: &[]*string{s.scheduleDeadLetters.QueueArn()},
		})
		awsscheduler.NewCfnSchedule(s.stack, jsii.String(sc.Name+"Schedule"), &awsscheduler.CfnScheduleProps{
			Description:                jsii.String("crowdgate: " + sc.Why),
			ScheduleExpression:         jsii.String(sc.Cron),
			ScheduleExpressionTimezone: jsii.String("UTC"),
			FlexibleTimeWindow:         &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
			State:                      jsii.String("ENABLED"),
			Target: &awsscheduler.CfnSchedule_TargetProperty{
				Arn:     target,
				RoleArn: role.RoleArn(),
				Input:   jsii.String(sc.Payload),
				DeadLetterConfig: &awsscheduler.CfnSchedule_DeadLetterConfigProperty{
					Arn: s.scheduleDeadLetters.QueueArn(),
				},
				RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
					MaximumRetryAttempts:     jsii.Number(scheduleRetries),
					MaximumEventAgeInSeconds: jsii.Number(scheduleMaxAgeSec),
				},
			},
		})
	}
	for name := range s.failedRuns {
		if !configured[name] {
			return fmt.Errorf("function %s has FailedRuns, but no schedule invokes it", name)
		}
	}
	return nil
}

// keepFailedRuns makes a function that schedules invoke send the runs that fail to its
// FailedRunsQueue (created and granted with the function: access.FailedRuns, alarmed in
// addAlarms). Scheduler invokes Lambda asynchronously, and its retries and dead-letter
// queue cover only the delivery; a run that is delivered and then fails every retry Lambda
// gives it (asyncRetries), or waits longer than asyncMaxAgeSec, would otherwise be
// dropped, leaving only an Errors datapoint. The destination's record keeps the payload,
// the error and why Lambda gave up.
//
// An on-failure destination rather than the function's dead-letter queue
// (FunctionProps.DeadLetterQueue), which gets only the event, with the error in message
// attributes. The L1 configuration rather than FunctionProps.OnFailure or
// ConfigureAsyncInvoke with awslambdadestinations.SqsDestination, whose grant adds
// sqs:GetQueueAttributes and sqs:GetQueueUrl: Lambda needs only sqs:SendMessage.
func (s *crowdgate) keepFailedRuns(name string, fn awslambda.Function) error {
	q, ok := s.failedRuns[name]
	if !ok {
		return fmt.Errorf("function %s is invoked asynchronously by a schedule: set FailedRuns in its grants entry", name)
	}
	cfg := awslambda.NewCfnEventInvokeConfig(s.stack, jsii.String(pascal(name)+"AsyncInvokeConfig"), &awslambda.CfnEventInvokeConfigProps{
		FunctionName: fn.FunctionName(),
		Qualifier:    jsii.String("$LATEST"), // Scheduler invokes the unqualified function
		DestinationConfig: &awslambda.CfnEventInvokeConfig_DestinationConfigProperty{
			OnFailure: &awslambda.CfnEventInvokeConfig_OnFailureProperty{Destination: q.QueueArn()},
		},
		MaximumRetryAttempts:     jsii.Number(asyncRetries),
		MaximumEventAgeInSeconds: jsii.Number(asyncMaxAgeSec),
	})
	// Lambda refuses a destination the role may not send to yet: wait for its policy.
	cfg.Node().AddDependency(s.roles[name])
	return nil
}
