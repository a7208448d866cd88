// Package schema names every table, queue and bucket once, so the CDK app, the local stack
// and the adapters cannot disagree about them. It imports no AWS SDK.
package schema

// Every table uses the same generic key shape (pk, sk strings) and the TTL attribute "ttl"
// (epoch seconds). Records that are not accounts always carry a ttl (DESIGN §3).
const (
	PartitionKey = "pk"
	SortKey      = "sk"
	TTLAttribute = "ttl"
)

// Index is a global secondary index with string keys.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
}

// Table describes one DynamoDB table. Name is the logical name; deployed names come from
// config (env) so several stacks can share an account.
type Table struct {
	Name    string
	Indexes []Index
	// Class is the privacy-policy class the table holds (docs/PRIVACY.md).
	Class string
	// TTL says whether records expire through the ttl attribute.
	TTL bool
	// CustomerKey asks for a customer-managed KMS key (personal information).
	CustomerKey bool
}

// GSI1 is the one secondary index the tables that need a second access path share.
var GSI1 = Index{Name: "gsi1", PartitionKey: "gsi1pk", SortKey: "gsi1sk"}

const (
	TableAccounts   = "accounts"
	TableChallenges = "challenges"
	TableLabels     = "labels"
	TableRisk       = "risk"
	TablePrivacy    = "privacy"
)

// Tables lists every table of the service.
var Tables = []Table{
	{Name: TableAccounts, Indexes: []Index{GSI1}, Class: "personal", TTL: true, CustomerKey: true},
	{Name: TableChallenges, Class: "challenges-and-tokens", TTL: true},
	{Name: TableLabels, Indexes: []Index{GSI1}, Class: "labeled-data", TTL: true},
	{Name: TableRisk, Class: "analytics", TTL: true},
	{Name: TablePrivacy, Indexes: []Index{GSI1}, Class: "privacy-requests", TTL: true},
}

// Queue describes one SQS queue; every queue has a dead-letter queue.
type Queue struct {
	Name string
	// MaxReceives is how often a message is tried before it moves to the dead-letter queue.
	MaxReceives int
	// TimeoutSeconds is the consumer's timeout: the Lambda function's on AWS, a batch's
	// deadline in the local broker.
	TimeoutSeconds int
	// VisibilitySeconds is at least six times TimeoutSeconds, as AWS advises for a queue
	// that feeds Lambda: the poller retries a throttled invocation while the batch stays
	// invisible, and a visibility that ran out would redeliver the batch and spend one of
	// its MaxReceives on a try that never ran.
	VisibilitySeconds int
	// Consumer is the function (routes.Function* name) that consumes the queue.
	Consumer string
	// BatchSize is how many messages one invocation of the consumer gets (the event
	// source mapping on AWS, the broker locally).
	BatchSize int
}

const (
	QueueAnswers    = "answers"
	QueueRiskEvents = "risk-events"
	QueueExports    = "exports"
	QueuePrivacy    = "privacy"
)

// How long a queue keeps a message, counted from when it was sent: the deployed queues'
// and dead-letter queues' MessageRetentionPeriod (infra) and the local broker's expiry
// (shared/queue), so the two expire messages alike. A dead letter keeps its send time, as
// SQS counts a standard queue's dead letter from its original enqueue time.
const (
	QueueRetentionDays      = 4  // SQS's default, set so docs/PRIVACY.md can name it: messages in flight
	DeadLetterRetentionDays = 14 // the SQS maximum: time to inspect and redrive
)

// Queues lists every queue of the service.
var Queues = []Queue{
	{Name: QueueAnswers, MaxReceives: 5, TimeoutSeconds: 50, VisibilitySeconds: 300, Consumer: "consensus", BatchSize: 10},
	{Name: QueueRiskEvents, MaxReceives: 5, TimeoutSeconds: 10, VisibilitySeconds: 60, Consumer: "risk", BatchSize: 10},
	// One export per invocation: the function runs a batch's exports one after the other
	// against one deadline sized for one export, so an export queued behind a large one
	// would start with what that one left, fail, and use up its receives.
	{Name: QueueExports, MaxReceives: 3, TimeoutSeconds: 600, VisibilitySeconds: 3600, Consumer: "export", BatchSize: 1},
	// The privacy HTTP function sends approved requests; the privacyworker function
	// carries them out.
	{Name: QueuePrivacy, MaxReceives: 5, TimeoutSeconds: 600, VisibilitySeconds: 3600, Consumer: "privacyworker", BatchSize: 10},
}

// QueueNamed returns the queue of Queues called name. It panics for any other name: that is
// a programming error, which a consumer's tests catch when they build its handler.
func QueueNamed(name string) Queue {
	for _, q := range Queues {
		if q.Name == name {
			return q
		}
	}
	panic("schema: no queue " + name)
}

// Bucket describes one S3 bucket.
type Bucket struct {
	Name string
	// ExpireDays, when positive, is the lifecycle rule that deletes objects.
	ExpireDays int
	// Versioned keeps old versions where data must survive mistakes.
	Versioned bool
	// EndUsersFetch marks a bucket whose objects visitors or data subjects load straight
	// from S3 through signed links: it has no server access logs, which would keep each
	// of their whole IP addresses and user agents for months.
	EndUsersFetch bool
}

const (
	BucketMedia   = "media"
	BucketExports = "exports"
	BucketPrivacy = "privacy"
)

// Buckets lists every bucket of the service.
var Buckets = []Bucket{
	{Name: BucketMedia, Versioned: true, EndUsersFetch: true}, // challenge images
	{Name: BucketExports, ExpireDays: 7},
	{Name: BucketPrivacy, ExpireDays: 30, EndUsersFetch: true}, // access packages
}
