package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Retention of the stores that only exist to debug or audit.
const (
	// Queues' retentions live in shared/schema: the local broker expires messages by them.
	queueRetentionDays      = schema.QueueRetentionDays
	deadLetterRetentionDays = schema.DeadLetterRetentionDays
	accessLogRetentionDays  = 90 // S3 server access logs
	noncurrentVersionDays   = 30 // how long an overwritten or deleted media object can be restored
)

// addTables creates schema.Tables. Tables outlive the stack (RETAIN + deletion protection):
// losing accounts or labels by a mistaken `cdk destroy` is worse than an orphaned table.
// Personal information gets a customer-managed key so its use is auditable and revocable.
func (s *crowdgate) addTables() {
	for _, t := range schema.Tables {
		props := &awsdynamodb.TableProps{
			PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(schema.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
			SortKey:      &awsdynamodb.Attribute{Name: jsii.String(schema.SortKey), Type: awsdynamodb.AttributeType_STRING},
			BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			DeletionProtection: jsii.Bool(true),
			RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
			Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
		}
		if t.TTL {
			props.TimeToLiveAttribute = jsii.String(schema.TTLAttribute)
		}
		if t.CustomerKey {
			props.Encryption = awsdynamodb.TableEncryption_CUSTOMER_MANAGED
			props.EncryptionKey = s.personalDataKey()
			s.tableKeys[t.Name] = props.EncryptionKey
		}
		table := awsdynamodb.NewTable(s.stack, jsii.String(pascal(t.Name)+"Table"), props)
		for _, ix := range t.Indexes {
			table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
				IndexName:      jsii.String(ix.Name),
				PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
				SortKey:        &awsdynamodb.Attribute{Name: jsii.String(ix.SortKey), Type: awsdynamodb.AttributeType_STRING},
				ProjectionType: awsdynamodb.ProjectionType_ALL,
			})
		}
		s.tables[t.Name] = table
	}
}

// personalDataKey is the one customer-managed key of the tables that hold personal
// information; created on first use.
func (s *crowdgate) personalDataKey() awskms.Key {
	if s.dataKey == nil {
		s.dataKey = awskms.NewKey(s.stack, jsii.String("PersonalDataKey"), &awskms.KeyProps{
			Description:       jsii.String("crowdgate: encrypts the tables that hold personal information"),
			EnableKeyRotation: jsii.Bool(true),
			// Deleting the key would make retained tables unreadable.
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
	}
	return s.dataKey
}

// deadLetterQueue creates a dead-letter queue: kept deadLetterRetentionDays, and as large
// a message as any queue's (a redriven message, or a schedule's dead-letter event with its
// payload, is as large as it was).
func (s *crowdgate) deadLetterQueue(id string) awssqs.Queue {
	return awssqs.NewQueue(s.stack, jsii.String(id), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(deadLetterRetentionDays)),
		MaxMessageSizeBytes: jsii.Number(platform.MaxMessageBytes),
	})
}

// addQueues creates schema.Queues, each with its own dead-letter queue. Messages are
// transient, so queues go with the stack.
func (s *crowdgate) addQueues() {
	for _, q := range schema.Queues {
		dlq := s.deadLetterQueue(pascal(q.Name) + "DeadLetterQueue")
		s.deadLetters[q.Name] = dlq
		s.queues[q.Name] = awssqs.NewQueue(s.stack, jsii.String(pascal(q.Name)+"Queue"), &awssqs.QueueProps{
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(float64(q.VisibilitySeconds))),
			RetentionPeriod:   awscdk.Duration_Days(jsii.Number(queueRetentionDays)),
			// What the senders check against; a queue created before SQS's default became
			// 1 MiB (August 2025) keeps 256 KiB unless the template sets it.
			MaxMessageSizeBytes: jsii.Number(platform.MaxMessageBytes),
			DeadLetterQueue: &awssqs.DeadLetterQueue{
				Queue:           dlq,
				MaxReceiveCount: jsii.Number(float64(q.MaxReceives)),
			},
		})
	}
}

// addBuckets creates schema.Buckets and the bucket their server access logs go to.
func (s *crowdgate) addBuckets() {
	logs := awss3.NewBucket(s.stack, jsii.String("AccessLogsBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-access-logs"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(accessLogRetentionDays)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	})
	for _, b := range schema.Buckets {
		rules := []*awss3.LifecycleRule{{
			Id:                                  jsii.String("abort-incomplete-uploads"),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}}
		if b.ExpireDays > 0 {
			rules = append(rules, &awss3.LifecycleRule{
				Id:         jsii.String("expire-objects"),
				Expiration: awscdk.Duration_Days(jsii.Number(float64(b.ExpireDays))),
			})
		}
		if b.Versioned {
			// Once a deleted object's old versions expire, its delete marker is all that is
			// left: it goes too.
			rules = append(rules, &awss3.LifecycleRule{
				Id:                          jsii.String("expire-old-versions"),
				NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(noncurrentVersionDays)),
				ExpiredObjectDeleteMarker:   jsii.Bool(true),
			})
		}
		props := &awss3.BucketProps{
			BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
			EnforceSSL:        jsii.Bool(true),
			MinimumTLSVersion: jsii.Number(1.2),
			Encryption:        awss3.BucketEncryption_S3_MANAGED,
			ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
			Versioned:         jsii.Bool(b.Versioned),
			LifecycleRules:    &rules,
			RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		}
		if !b.EndUsersFetch {
			props.ServerAccessLogsBucket, props.ServerAccessLogsPrefix = logs, jsii.String(b.Name+"/")
		}
		bucket := awss3.NewBucket(s.stack, jsii.String(pascal(b.Name)+"Bucket"), props)
		if b.EndUsersFetch {
			suppressOne(bucket, "AwsSolutions-S1", "Visitors (challenge images) or data subjects (access packages) load this bucket's objects directly; "+
				"server access logs would keep their whole IP addresses and user agents, which crowdgate never stores. CloudTrail records the service's own API calls.")
		}
		s.buckets[b.Name] = bucket
	}
}
