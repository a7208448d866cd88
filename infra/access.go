package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// access is what one function may touch. It is the only place permissions are decided:
// the function helper turns it into IAM statements and into the environment variables
// (config.EnvName) that tell the function the names, so a function can only be configured
// with resources it is allowed to use.
type access struct {
	// Tables: schema.Table* → the DynamoDB calls the function's code makes on the table
	// and on its indexes, and no others (tableAccess).
	Tables       map[string]tableAccess
	SendQueues   []string // schema.Queue*: send messages
	ReadBuckets  []string // schema.Bucket*: get objects (and presign GET links)
	WriteBuckets []string // schema.Bucket*: put objects
	// DeleteBuckets: schema.Bucket*: delete objects and all their versions, listing the
	// bucket (and its versions) to find them.
	DeleteBuckets []string
	SigningKeys   bool // read the token-signing key list (SIGNING_SECRET_ARN)

	// ListBuckets: schema.Bucket*: s3:ListBucket, without which S3 answers a read of a
	// missing object 403 instead of 404 (blob.ErrNotFound), for code that reads to learn
	// whether an object is there.
	ListBuckets []string
	// AbortUploads: schema.Bucket*, each also in WriteBuckets: abort the streamed (multipart)
	// uploads that fail (s3:AbortMultipartUpload; the parts themselves are s3:PutObject).
	AbortUploads []string
	// RotateSigningKeys: run the rotation protocol on the signing-key secret (read it,
	// write and promote new versions); also sets SIGNING_SECRET_ARN.
	RotateSigningKeys bool
	// PrivacyKey: read the privacy-hash key (PRIVACY_KEY_SECRET_ARN).
	PrivacyKey bool
	// SendEmail: ses:SendEmail from the MailFrom parameter's address only (MAIL_FROM).
	SendEmail bool
	// SendNotices: with SendEmail, also through the PrivacyNotices configuration set
	// (MAIL_NOTICE_CONFIGURATION_SET), which adds no bounce or complaint to the account-level
	// suppression list; SES authorises a send through a set on the set's ARN too.
	SendNotices bool
	// SuppressionList: look up and remove addresses on SES's account-level suppression
	// list (suppressionListActions), which SES keeps addresses on indefinitely.
	SuppressionList bool
	// WritePrefixTables: schema.Table* → the item writes allowed on items whose pk starts
	// with a prefix (dynamodb:LeadingKeys). Pair with ReadTables if the function reads.
	WritePrefixTables map[string]prefixWrite
	// PublicURL: the API's URL (PUBLIC_URL), for links in e-mails.
	PublicURL bool
	// FailedRuns: the function is invoked asynchronously (a schedule's target): it gets a
	// queue of its own, <Function>FailedRunsQueue, which Lambda sends a run that failed every
	// retry to with the function's role (sqs:SendMessage; keepFailedRuns).
	FailedRuns bool
}

// grants is the least-privilege table of every function. Queue consumers also receive
// their queue's consume permissions from the event source.
var grants = map[string]access{
	routes.FunctionChallenge: {
		Tables: map[string]tableAccess{
			schema.TableAccounts:   {Actions: []string{getItem}},                        // Accounts.get: the sitekey's site
			schema.TableChallenges: {Actions: []string{getItem, putItem, updateItem}},   // Challenges.Put/Consume, Tokens.Put (a lost race's item is read)
			schema.TableLabels:     {Actions: []string{query}, Indexes: gsi1},           // Jobs.Stocks (the pool partition), Jobs.sample (gsi1)
			schema.TableRisk:       {Actions: []string{getItem, batchGetItem, putItem}}, // Salts.get/load (daily salts), Risk.batchGet (IP windows)
		},
		SendQueues:  []string{schema.QueueAnswers, schema.QueueRiskEvents},
		ReadBuckets: []string{schema.BucketMedia}, // presigned tile URLs
		SigningKeys: true,
	},
	routes.FunctionVerify: {
		Tables: map[string]tableAccess{
			schema.TableAccounts:   {Actions: []string{getItem}},             // Accounts.get: the site secret's lookup
			schema.TableChallenges: {Actions: []string{getItem, updateItem}}, // Tokens.Redeem: single-use tokens, a refused one is read
		},
		SigningKeys: true,
	},
	routes.FunctionAdmin: {
		Tables: map[string]tableAccess{
			// Profiles, sites, keys: createProfile, UpdateSite, revokeKey, and the CreateSite,
			// putKey and RotateSecret transactions (condition checks, among them the erasure
			// fence on the owner's profile, puts, updates, deletes); listKeys lists an owner's
			// keys by their references (query) and gsi1, and reads each key gsi1 shows live
			// again (get).
			schema.TableAccounts: {Actions: []string{getItem, query, conditionCheckItem, putItem, updateItem, deleteItem}, Indexes: gsi1},
		},
	},
	routes.FunctionRisk: {
		Tables: map[string]tableAccess{
			// Keys and site secrets (Accounts.get), an integrator's sites (IntegratorSites, gsi1);
			// the check on the recipient's profile in every disclosure transaction (the erasure
			// fence), and the read that explains a refused one (profileRefusal).
			schema.TableAccounts: {Actions: []string{getItem, conditionCheckItem}, Indexes: gsi1},
			// Counters and salts: Risk (ChallengeRisk, SiteActivity, the event transactions),
			// Salts, Analytics (Count transactions, Daily).
			schema.TableRisk: {Actions: []string{getItem, query, putItem, updateItem}},
		},
		// Disclosure records only (dynamo.Disclosures): conditional puts in transactions, and
		// a batch delete that undoes them when a later transaction fails.
		WritePrefixTables: map[string]prefixWrite{schema.TablePrivacy: {"DISCLOSURE#", disclosureWriteActions}},
	},
	routes.FunctionPrivacy: {
		Tables: map[string]tableAccess{
			// Accounts by e-mail (profilesByEmail: no index by e-mail), a subject's
			// accessibility records (AccessibilityOf, gsi1).
			schema.TableAccounts: {Actions: []string{scan}, Indexes: gsi1},
			// The request log: Privacy.get/Audit, the Create/Save/FailAttempt/AppendAudit
			// transactions, List (gsi1).
			schema.TablePrivacy: {Actions: []string{getItem, query, putItem, updateItem, deleteItem}, Indexes: gsi1},
		},
		SendQueues:  []string{schema.QueuePrivacy},  // approved requests, carried out by the consumer
		ReadBuckets: []string{schema.BucketPrivacy}, // presigned links to access packages
		ListBuckets: []string{schema.BucketPrivacy}, // a deleted package reads as missing (410), not forbidden
		PrivacyKey:  true,
		SendEmail:   true, // verification codes and responses
		SendNotices: true, // denial and extension notices
	},
	// The privacy worker carries approved requests out over every store that can hold an
	// account holder's data; the risk and challenges tables hold none (docs/PRIVACY.md).
	// Scans: accounts by e-mail, a customer's exports, a subject's requests (no index for them).
	functionPrivacyWorker: {
		Tables: map[string]tableAccess{
			// Accounts.get, profilesByEmail, revokeKey, updateExisting (MarkErasing too), DeleteProfile,
			// DeleteAccessibility, Holdings.deleteKeys/DeleteAPIKeys; SitesOf/DeleteSites
			// (site references), listKeys/DeleteAPIKeys (key references), queryGSI1,
			// gsi1PrefixQuery and AccessibilityOf (gsi1).
			schema.TableAccounts: {Actions: []string{getItem, query, scan, updateItem, deleteItem, batchWriteItem}, Indexes: gsi1},
			// Jobs (DropPending, DeleteExpiry, DueExpiries, DeleteEntries, DeleteJob, upload
			// markers; listJobs and DueUploads on gsi1), Holdings.ExportsOf/DeleteExport/DeleteConsensus.
			schema.TableLabels: {Actions: []string{getItem, query, scan, putItem, deleteItem, batchWriteItem}, Indexes: gsi1},
			// Privacy.get/Save/AppendAudit/List (gsi1), Holdings.RequestsOf/ScrubAccountIDs/
			// DisclosuresTo/DeleteDisclosures.
			schema.TablePrivacy: {Actions: []string{getItem, query, scan, putItem, deleteItem, batchWriteItem}, Indexes: gsi1},
		},
		SendQueues:      []string{schema.QueuePrivacy},                                            // a job that nears the timeout continues in a new message
		ReadBuckets:     []string{schema.BucketPrivacy},                                           // access package parts
		WriteBuckets:    []string{schema.BucketPrivacy},                                           // access packages
		AbortUploads:    []string{schema.BucketPrivacy},                                           // a failed package's uploads are aborted
		DeleteBuckets:   []string{schema.BucketMedia, schema.BucketExports, schema.BucketPrivacy}, // uploads, export files, packages and parts
		PrivacyKey:      true,                                                                     // the request workflow's hashes
		SendEmail:       true,                                                                     // completion and denial notices
		SendNotices:     true,                                                                     // through the set that keeps them off the suppression list
		SuppressionList: true,                                                                     // erasure removes the subject's address; access packages say whether it is listed
	},
	// The accessibility pages and text challenges: sites (hostname check) and its own A11Y#
	// records in the accounts table, text challenges and pass tokens in the challenges table;
	// a pass ends the visual challenge set aside (challenges) and publishes its risk event
	// (the day's risk salt, the risk-events queue).
	routes.FunctionAccessibility: {
		Tables: map[string]tableAccess{
			schema.TableAccounts:   {Actions: []string{getItem}},                      // Accounts.get (sites), its A11Y# records
			schema.TableChallenges: {Actions: []string{getItem, putItem, updateItem}}, // TextChallenges.Put/Get/Consume, Tokens.Put, Challenges.Get/Consume
			schema.TableRisk:       {Actions: []string{getItem, putItem}},             // Salts.get/load (the risk salt)
		},
		SendQueues: []string{schema.QueueRiskEvents}, // the set-aside challenge's pass
		// Sign-ups, tokens, rate-limit counters only; the condition check is PutToken's,
		// on the subject's erasure fence (A11Y#FENCE#).
		WritePrefixTables: map[string]prefixWrite{schema.TableAccounts: {"A11Y#", append(slices.Clone(tablePrefixWriteActions), conditionCheckItem)}},
		SigningKeys:       true, // pass tokens
		PrivacyKey:        true, // subject hashes a privacy request finds
		SendEmail:         true, // the confirm link
		PublicURL:         true, // the confirm link's base
	},
	functionRotateKeys: {
		Tables:            map[string]tableAccess{schema.TableRisk: {Actions: []string{deleteItem}}}, // SaltSweeper.Destroy: expired daily salts
		RotateSigningKeys: true,
		FailedRuns:        true, // DestroySalts runs
	},
	routes.FunctionJobs: {
		Tables: map[string]tableAccess{
			schema.TableAccounts: {Actions: []string{getItem}}, // customer API keys
			// Jobs, items, upload markers, pools (transactions), batch deletes (deleteQueried),
			// export records (Exports.Create/Get); listJobs on gsi1.
			schema.TableLabels: {Actions: []string{getItem, query, putItem, updateItem, deleteItem, batchWriteItem}, Indexes: gsi1},
		},
		SendQueues:    []string{schema.QueueExports},                      // export requests
		ReadBuckets:   []string{schema.BucketMedia, schema.BucketExports}, // upload checks; presigned export links
		WriteBuckets:  []string{schema.BucketMedia},                       // presigned upload links are signed by this role
		DeleteBuckets: []string{schema.BucketMedia},                       // rejected uploads and deleted jobs, every version
	},
	"consensus": {
		Tables: map[string]tableAccess{
			// Items' consensus, answerer states, class counts (Consensus: batchGet, LoadJob,
			// ActiveJobs, Commit, PutJobState, AddJobCounts), the job (Jobs.GetJob).
			schema.TableLabels: {Actions: []string{getItem, batchGetItem, query, putItem, updateItem}},
		},
		SendQueues: []string{schema.QueueAnswers}, // the scheduled re-estimation fans out one message per job
	},
	"export": {
		Tables: map[string]tableAccess{
			schema.TableLabels: {Actions: []string{getItem, query, updateItem}}, // Jobs.GetJob, Exports.EachRow/Start/end
		},
		WriteBuckets: []string{schema.BucketExports}, // multipart upload of the export object
		AbortUploads: []string{schema.BucketExports}, // aborted when the export fails
	},
}

// suppressionListActions are account-level: SES defines no resource for them, so they are
// granted on "*". Neither adds to or lists the suppression list.
var suppressionListActions = []string{"ses:GetSuppressedDestination", "ses:DeleteSuppressedDestination"}

// tableAccess is what a function's code calls on one table. A TransactWriteItems needs
// the actions of its parts (PutItem, UpdateItem, DeleteItem, ConditionCheckItem), a
// BatchWriteItem only dynamodb:BatchWriteItem, whatever its requests.
type tableAccess struct {
	Actions []string // on the table itself, each in tableActions
	Indexes []string // schema.Index names the function queries: dynamodb:Query on each
}

// The item actions a table grant may name. None of the stream reads (no table has a
// stream) or DescribeTable (no function calls it).
const (
	getItem            = "dynamodb:GetItem"
	batchGetItem       = "dynamodb:BatchGetItem"
	query              = "dynamodb:Query"
	scan               = "dynamodb:Scan"
	conditionCheckItem = "dynamodb:ConditionCheckItem"
	putItem            = "dynamodb:PutItem"
	updateItem         = "dynamodb:UpdateItem"
	deleteItem         = "dynamodb:DeleteItem"
	batchWriteItem     = "dynamodb:BatchWriteItem"
)

var (
	tableActions      = []string{getItem, batchGetItem, query, scan, conditionCheckItem, putItem, updateItem, deleteItem, batchWriteItem}
	tableWriteActions = []string{putItem, updateItem, deleteItem, batchWriteItem}
	// gsi1 is the Indexes of a function that queries the table's gsi1.
	gsi1 = []string{schema.GSI1.Name}
	// disclosureWriteActions are what dynamo.Disclosures.RecordDisclosures calls.
	disclosureWriteActions = []string{putItem, batchWriteItem}
	// queueSendActions covers SendMessageBatch; the senders have the URL from the
	// environment and never call GetQueueUrl or GetQueueAttributes (the L2 grant adds both).
	queueSendActions = []string{"sqs:SendMessage"}
	// secretReadActions is what platform.Env.Secret calls (the L2 grant adds DescribeSecret).
	secretReadActions = []string{"secretsmanager:GetSecretValue"}
)

// kmsTableReadActions are what the L2 read grant gives on a table's customer-managed key.
var kmsTableReadActions = []string{"kms:Decrypt", "kms:DescribeKey"}

// kmsTableWriteActions spells out what the L2 grant writes as kms:ReEncrypt* and
// kms:GenerateDataKey*, keeping only the symmetric-key operations DynamoDB uses.
var kmsTableWriteActions = []string{
	"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt",
	"kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo",
}

// grant applies a function's access to its role and returns the environment variables
// that name the granted resources.
func (s *crowdgate) grant(function string, role awsiam.IRole) (map[string]*string, error) {
	a, ok := grants[function]
	if !ok {
		return nil, fmt.Errorf("no access entry for function %q", function)
	}
	env := map[string]*string{}
	for _, name := range slices.Sorted(maps.Keys(a.Tables)) {
		if err := s.grantTable(role, name, a.Tables[name]); err != nil {
			return nil, fmt.Errorf("function %s: %w", function, err)
		}
		env[config.EnvName("table", name)] = s.tables[name].TableName()
	}
	for _, name := range a.SendQueues {
		q, ok := s.queues[name]
		if !ok {
			return nil, fmt.Errorf("function %s: unknown queue %q", function, name)
		}
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(queueSendActions...), ResourceArns: jsii.Strings(*q.QueueArn()),
		})
		env[config.EnvName("queue", name)] = q.QueueUrl()
	}
	for _, set := range []struct {
		names   []string
		actions []string
	}{
		{a.ReadBuckets, []string{"s3:GetObject"}},
		{a.WriteBuckets, []string{"s3:PutObject"}},
	} {
		for _, name := range set.names {
			b, ok := s.buckets[name]
			if !ok {
				return nil, fmt.Errorf("function %s: unknown bucket %q", function, name)
			}
			// Explicit object actions: the L2 bucket grants use wildcards (s3:GetObject*, s3:List*).
			awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
				Grantee:      role,
				Actions:      jsii.Strings(set.actions...),
				ResourceArns: jsii.Strings(*b.ArnForObjects(jsii.String("*"))),
			})
			env[config.EnvName("bucket", name)] = b.BucketName()
		}
	}
	if a.SigningKeys {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(secretReadActions...), ResourceArns: jsii.Strings(*s.signingKeys.SecretArn()),
		})
		env["SIGNING_SECRET_ARN"] = s.signingKeys.SecretArn()
	}
	if a.FailedRuns {
		q := s.deadLetterQueue(pascal(function) + "FailedRunsQueue")
		suppressOne(q, "AwsSolutions-SQS3",
			"It is a dead-letter queue: the "+function+" function's on-failure destination for the runs its schedules invoke, which no SQS redrive policy names.")
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(queueSendActions...), ResourceArns: jsii.Strings(*q.QueueArn()),
		})
		s.failedRuns[function] = q
	}
	if a.SuppressionList {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(suppressionListActions...), ResourceArns: jsii.Strings("*"),
		})
	}
	if err := s.grantMore(a, role, env); err != nil {
		return nil, fmt.Errorf("function %s: %w", function, err)
	}
	if err := s.grantPrefixWrites(a, role, env); err != nil {
		return nil, fmt.Errorf("function %s: %w", function, err)
	}
	return env, nil
}

// grantTable grants the calls of t on the table and dynamodb:Query on the indexes it
// names, and the matching actions on the table's customer-managed key, if any (spelled
// out: the L2 write grant would add wildcard KMS actions).
func (s *crowdgate) grantTable(role awsiam.IRole, name string, t tableAccess) error {
	table, ok := s.tables[name]
	if !ok {
		return fmt.Errorf("unknown table %q", name)
	}
	if len(t.Actions)+len(t.Indexes) == 0 {
		return fmt.Errorf("table %s: no actions", name)
	}
	for _, a := range t.Actions {
		if !slices.Contains(tableActions, a) {
			return fmt.Errorf("table %s: %s is not an item action", name, a)
		}
	}
	if len(t.Actions) > 0 {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(t.Actions...), ResourceArns: jsii.Strings(*table.TableArn()),
		})
	}
	for _, ix := range t.Indexes {
		if !tableHasIndex(name, ix) {
			return fmt.Errorf("table %s: no index %q", name, ix)
		}
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: role, Actions: jsii.Strings(query), ResourceArns: jsii.Strings(*table.TableArn() + "/index/" + ix),
		})
	}
	if key := s.tableKeys[name]; key != nil {
		keyActions := kmsTableReadActions
		if slices.ContainsFunc(t.Actions, func(a string) bool { return slices.Contains(tableWriteActions, a) }) {
			keyActions = kmsTableWriteActions
		}
		key.Grant(role, *jsii.Strings(keyActions...)...)
	}
	return nil
}

func tableHasIndex(table, index string) bool {
	i := slices.IndexFunc(schema.Tables, func(t schema.Table) bool { return t.Name == table })
	return i >= 0 && slices.ContainsFunc(schema.Tables[i].Indexes, func(ix schema.Index) bool { return ix.Name == index })
}
