package main

import (
	"fmt"
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
	ReadTables      []string // schema.Table*: read items (tableReadActions; no Scan)
	ReadWriteTables []string // schema.Table*: read and write items (tableReadWriteActions; no Scan)
	SendQueues      []string // schema.Queue*: send messages
	ReadBuckets     []string // schema.Bucket*: get objects (and presign GET links)
	WriteBuckets    []string // schema.Bucket*: put objects
	// DeleteBuckets: schema.Bucket*: delete objects and all their versions, listing the
	// bucket (and its versions) to find them.
	DeleteBuckets []string
	SigningKeys   bool // read the token-signing key list (SIGNING_SECRET_ARN)

	// DeleteTables: schema.Table*: delete items by key and nothing else (explicit
	// retention deletes, such as expired salts).
	DeleteTables []string
	// ScanTables: schema.Table*, each also in ReadTables or ReadWriteTables: Scan the table
	// itself (not its indexes), which reads every item.
	ScanTables []string
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
}

// grants is the least-privilege table of every function. Queue consumers also receive
// their queue's consume permissions from the event source.
var grants = map[string]access{
	routes.FunctionChallenge: {
		ReadTables:      []string{schema.TableAccounts, schema.TableLabels},
		ReadWriteTables: []string{schema.TableChallenges, schema.TableRisk}, // risk: the daily salts and the IP windows it scores with
		SendQueues:      []string{schema.QueueAnswers, schema.QueueRiskEvents},
		ReadBuckets:     []string{schema.BucketMedia}, // presigned tile URLs
		SigningKeys:     true,
	},
	routes.FunctionVerify: {
		ReadTables:      []string{schema.TableAccounts},
		ReadWriteTables: []string{schema.TableChallenges}, // single-use tokens: conditional write
		SigningKeys:     true,
	},
	routes.FunctionAdmin: {
		ReadWriteTables: []string{schema.TableAccounts},
	},
	routes.FunctionRisk: {
		ReadTables:      []string{schema.TableAccounts}, // the lookup authenticates site secrets
		ReadWriteTables: []string{schema.TableRisk},     // counters and salts
		// Disclosure records only (dynamo.Disclosures): conditional puts in transactions, and
		// a batch delete that undoes them when a later transaction fails.
		WritePrefixTables: map[string]prefixWrite{schema.TablePrivacy: {"DISCLOSURE#", disclosureWriteActions}},
	},
	routes.FunctionPrivacy: {
		ReadTables:      []string{schema.TableAccounts}, // is the requester an integrator or customer
		ScanTables:      []string{schema.TableAccounts}, // accounts by e-mail (no index by e-mail)
		ReadWriteTables: []string{schema.TablePrivacy},  // the request log
		SendQueues:      []string{schema.QueuePrivacy},  // approved requests, carried out by the consumer
		ReadBuckets:     []string{schema.BucketPrivacy}, // presigned links to access packages
		ListBuckets:     []string{schema.BucketPrivacy}, // a deleted package reads as missing (410), not forbidden
		PrivacyKey:      true,
		SendEmail:       true, // verification codes and responses
		SendNotices:     true, // denial and extension notices
	},
	// The privacy worker carries approved requests out over every store that can hold an
	// account holder's data; the risk and challenges tables hold none (docs/PRIVACY.md).
	functionPrivacyWorker: {
		ReadWriteTables: []string{schema.TableAccounts, schema.TableLabels, schema.TablePrivacy},  // erase, correct, record choices; the request log
		ScanTables:      []string{schema.TableAccounts, schema.TableLabels, schema.TablePrivacy},  // accounts by e-mail, a customer's exports, a subject's requests: no index for them
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
	// records in the accounts table, text challenges and pass tokens in the challenges table.
	routes.FunctionAccessibility: {
		ReadTables:        []string{schema.TableAccounts},
		WritePrefixTables: map[string]prefixWrite{schema.TableAccounts: {"A11Y#", tablePrefixWriteActions}}, // sign-ups, tokens, rate-limit counters only
		ReadWriteTables:   []string{schema.TableChallenges},
		SigningKeys:       true, // pass tokens
		PrivacyKey:        true, // subject hashes a privacy request finds
		SendEmail:         true, // the confirm link
		PublicURL:         true, // the confirm link's base
	},
	functionRotateKeys: {
		DeleteTables:      []string{schema.TableRisk}, // expired daily salts
		RotateSigningKeys: true,
	},
	routes.FunctionJobs: {
		ReadTables:      []string{schema.TableAccounts},                     // customer API keys
		ReadWriteTables: []string{schema.TableLabels},                       // jobs, items, export records
		SendQueues:      []string{schema.QueueExports},                      // export requests
		ReadBuckets:     []string{schema.BucketMedia, schema.BucketExports}, // upload checks; presigned export links
		WriteBuckets:    []string{schema.BucketMedia},                       // presigned upload links are signed by this role
		DeleteBuckets:   []string{schema.BucketMedia},                       // rejected uploads and deleted jobs, every version
	},
	"consensus": {
		ReadWriteTables: []string{schema.TableLabels},  // items' consensus, answerer states, class counts
		SendQueues:      []string{schema.QueueAnswers}, // the scheduled re-estimation fans out one message per job
	},
	"export": {
		ReadWriteTables: []string{schema.TableLabels},   // export records (status), job items (read)
		WriteBuckets:    []string{schema.BucketExports}, // multipart upload of the export object
		AbortUploads:    []string{schema.BucketExports}, // aborted when the export fails
	},
}

// suppressionListActions are account-level: SES defines no resource for them, so they are
// granted on "*". Neither adds to or lists the suppression list.
var suppressionListActions = []string{"ses:GetSuppressedDestination", "ses:DeleteSuppressedDestination"}

// The item actions of the table grants: the L2 grants' without Scan (only ScanTables),
// the stream reads (no table has a stream) and DescribeTable (no function calls it). A
// TransactWriteItems needs the actions of its parts (PutItem, UpdateItem, DeleteItem,
// ConditionCheckItem).
var (
	tableReadActions      = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
	tableReadWriteActions = append(slices.Clone(tableReadActions),
		"dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
	tableScanActions = []string{"dynamodb:Scan"}
	// disclosureWriteActions are what dynamo.Disclosures.RecordDisclosures calls.
	disclosureWriteActions = []string{"dynamodb:PutItem", "dynamodb:BatchWriteItem"}
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
	for _, name := range a.ReadTables {
		if err := s.grantTable(role, name, false); err != nil {
			return nil, fmt.Errorf("function %s: %w", function, err)
		}
		env[config.EnvName("table", name)] = s.tables[name].TableName()
	}
	for _, name := range a.ReadWriteTables {
		if err := s.grantTable(role, name, true); err != nil {
			return nil, fmt.Errorf("function %s: %w", function, err)
		}
		env[config.EnvName("table", name)] = s.tables[name].TableName()
	}
	for _, name := range a.SendQueues {
		q, ok := s.queues[name]
		if !ok {
			return nil, fmt.Errorf("function %s: unknown queue %q", function, name)
		}
		q.GrantSendMessages(role)
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
		s.signingKeys.GrantRead(role, nil)
		env["SIGNING_SECRET_ARN"] = s.signingKeys.SecretArn()
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

// grantTable grants the table's item actions on the table and its indexes, and the
// matching actions on its customer-managed key, if any (spelled out: the L2 write grant
// would add wildcard KMS actions).
func (s *crowdgate) grantTable(role awsiam.IRole, name string, write bool) error {
	t, ok := s.tables[name]
	if !ok {
		return fmt.Errorf("unknown table %q", name)
	}
	actions, keyActions := tableReadActions, kmsTableReadActions
	if write {
		actions, keyActions = tableReadWriteActions, kmsTableWriteActions
	}
	t.Grant(role, *jsii.Strings(actions...)...)
	if key := s.tableKeys[name]; key != nil {
		key.Grant(role, *jsii.Strings(keyActions...)...)
	}
	return nil
}
