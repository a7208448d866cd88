package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// One stack for all tests: synth takes tens of seconds. It is the production stack, with
// main.go's consumers.
var (
	built    *crowdgate
	template assertions.Template
	tmpl     map[string]any // template JSON
	byPath   map[string]string
)

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		jsii.Close()
		os.Exit(1)
	}
	rc := m.Run()
	code.Close()
	jsii.Close()
	os.Exit(rc)
}

func setup() (*lambdaCode, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	app, err := newApp(root)
	if err != nil {
		return nil, err
	}
	// Report nag errors through TestNagFindsNoErrors instead of failing the synth itself.
	app.Node().SetContext(jsii.String("@aws-cdk/core:annotationsInValidationReport"), false)
	// An empty build directory: every function gets the placeholder, as on a fresh checkout.
	empty, err := os.MkdirTemp("", "crowdgate-infra-test-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(empty)
	code, err := newLambdaCode(empty)
	if err != nil {
		return nil, err
	}
	name, err := stackName(app)
	if err != nil {
		return code, err
	}
	built, err = newCrowdgateStack(app, name, stackOptions{Code: code, Consumers: consumers})
	if err != nil {
		return code, err
	}
	template = assertions.Template_FromStack(built.stack, nil)
	tmpl = *template.ToJSON()
	byPath = map[string]string{}
	for id, r := range resources("") {
		if p, ok := dig(r, "Metadata", "aws:cdk:path").(string); ok {
			byPath[p] = id
		}
	}
	return code, nil
}

// resources returns the template's resources of one type ("" for all) by logical id.
func resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tmpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if typ == "" || r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// logicalID finds the CloudFormation resource of a construct path below the stack
// ("AccountsTable" → the table's logical id).
func logicalID(t *testing.T, path string) string {
	t.Helper()
	id, ok := byPath[*built.stack.Node().Path()+"/"+path+"/Resource"]
	if !ok {
		t.Fatalf("no resource at %s", path)
	}
	return id
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// refs lists the logical ids a value refers to through Ref or Fn::GetAtt.
func refs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["Ref"].(string); ok {
			out = append(out, r)
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
			out = append(out, ga[0].(string))
		}
		for _, x := range v {
			out = append(out, refs(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, refs(x)...)
		}
	}
	return out
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func TestEveryRouteIsIntegratedWithItsFunctionAndAuth(t *testing.T) {
	apiRoutes := resources("AWS::ApiGatewayV2::Route")
	// The route table plus one OPTIONS route per browser path (the functions answer CORS).
	if len(apiRoutes) != len(withPreflights(routes.Table)) {
		t.Errorf("%d API routes, route table with preflights has %d", len(apiRoutes), len(withPreflights(routes.Table)))
	}
	integrations := resources("AWS::ApiGatewayV2::Integration")
	for _, r := range withPreflights(routes.Table) {
		key := r.Method + " " + r.Path
		var found map[string]any
		for _, ar := range apiRoutes {
			if dig(ar, "Properties", "RouteKey") == key {
				found = ar
			}
		}
		if found == nil {
			t.Errorf("route %s missing", key)
			continue
		}
		auth, _ := dig(found, "Properties", "AuthorizationType").(string)
		want := "NONE"
		if r.Auth == routes.Operator {
			want = "AWS_IAM"
		}
		if auth != want {
			t.Errorf("route %s: authorization %q, want %q", key, auth, want)
		}
		fn := logicalID(t, pascal(r.Function)+"Function")
		target := refs(dig(found, "Properties", "Target"))
		if len(target) != 1 || !slices.Contains(refs(dig(integrations[target[0]], "Properties", "IntegrationUri")), fn) {
			t.Errorf("route %s does not reach function %s (target %v)", key, r.Function, target)
		}
	}
}

func TestStageThrottlesLogsWithoutIPsAndCORSIsBrowserOnly(t *testing.T) {
	stages := resources("AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("%d stages, want 1", len(stages))
	}
	for _, s := range stages {
		p := s["Properties"]
		if dig(p, "StageName") != "$default" || dig(p, "AutoDeploy") != true {
			t.Errorf("stage is not an auto-deployed $default stage: %v", p)
		}
		if dig(p, "DefaultRouteSettings", "ThrottlingRateLimit") != float64(defaultRateLimit) ||
			dig(p, "DefaultRouteSettings", "ThrottlingBurstLimit") != float64(defaultBurstLimit) {
			t.Errorf("stage throttling = %v", dig(p, "DefaultRouteSettings"))
		}
		format, _ := dig(p, "AccessLogSettings", "Format").(string)
		if !strings.Contains(format, "$context.requestId") {
			t.Errorf("access log format lacks the request id: %s", format)
		}
		for _, banned := range []string{"sourceIp", "userAgent"} {
			if strings.Contains(format, banned) {
				t.Errorf("access log format records %s: %s", banned, format)
			}
		}
		if refs := refs(dig(p, "AccessLogSettings", "DestinationArn")); len(refs) != 1 || resources("")[refs[0]]["Type"] != "AWS::Logs::LogGroup" {
			t.Errorf("access logs do not go to a log group: %v", refs)
		}
	}
	// No API-level CORS: it would replace the functions' CORS headers, and the
	// accessibility routes need credentialed CORS naming the origin. The functions answer
	// preflights through OPTIONS routes, which exist for browser paths only.
	for _, api := range resources("AWS::ApiGatewayV2::Api") {
		if c := dig(api, "Properties", "CorsConfiguration"); c != nil {
			t.Errorf("API-level CORS = %v", c)
		}
	}
	browser := map[string]bool{}
	for _, r := range routes.Table {
		browser[r.Path] = browser[r.Path] || r.Browser
	}
	for _, ar := range resources("AWS::ApiGatewayV2::Route") {
		key, _ := dig(ar, "Properties", "RouteKey").(string)
		if path, ok := strings.CutPrefix(key, "OPTIONS "); ok && !browser[path] {
			t.Errorf("preflight route %s for a path browsers do not call", key)
		}
	}
}

func TestTablesAreRecoverableExpiringAndProtected(t *testing.T) {
	if n := len(resources("AWS::DynamoDB::Table")); n != len(schema.Tables) {
		t.Errorf("%d tables, schema has %d", n, len(schema.Tables))
	}
	for _, st := range schema.Tables {
		id := logicalID(t, pascal(st.Name)+"Table")
		r := resources("")[id]
		p := r["Properties"]
		if dig(p, "BillingMode") != "PAY_PER_REQUEST" {
			t.Errorf("%s: billing %v", st.Name, dig(p, "BillingMode"))
		}
		if dig(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
			t.Errorf("%s: no point-in-time recovery", st.Name)
		}
		if dig(p, "TimeToLiveSpecification", "AttributeName") != schema.TTLAttribute || dig(p, "TimeToLiveSpecification", "Enabled") != true {
			t.Errorf("%s: TTL = %v", st.Name, dig(p, "TimeToLiveSpecification"))
		}
		if dig(p, "DeletionProtectionEnabled") != true || r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: not protected against deletion", st.Name)
		}
		keys := fmt.Sprint(dig(p, "KeySchema"))
		if keys != "[map[AttributeName:pk KeyType:HASH] map[AttributeName:sk KeyType:RANGE]]" {
			t.Errorf("%s: key schema %s", st.Name, keys)
		}
		var gsis []string
		for _, g := range list(dig(p, "GlobalSecondaryIndexes")) {
			gsis = append(gsis, fmt.Sprint(dig(g, "IndexName"), " ", dig(g, "KeySchema")))
		}
		var want []string
		for _, ix := range st.Indexes {
			want = append(want, fmt.Sprintf("%s [map[AttributeName:%s KeyType:HASH] map[AttributeName:%s KeyType:RANGE]]", ix.Name, ix.PartitionKey, ix.SortKey))
		}
		if fmt.Sprint(gsis) != fmt.Sprint(want) {
			t.Errorf("%s: indexes %v, want %v", st.Name, gsis, want)
		}
		kms := refs(dig(p, "SSESpecification", "KMSMasterKeyId"))
		if dig(p, "SSESpecification", "SSEEnabled") != true {
			t.Errorf("%s: SSE not enabled", st.Name)
		}
		switch {
		case st.CustomerKey && len(kms) != 1:
			t.Errorf("%s: holds personal information but has no customer-managed key", st.Name)
		case st.CustomerKey:
			key := resources("")[kms[0]]
			if key["Type"] != "AWS::KMS::Key" || dig(key, "Properties", "EnableKeyRotation") != true || key["DeletionPolicy"] != "Retain" {
				t.Errorf("%s: key %v is not a retained rotating KMS key", st.Name, key)
			}
		case len(kms) != 0:
			t.Errorf("%s: unexpected customer-managed key", st.Name)
		}
	}
}

// denyInsecure reports whether a resource policy denies requests without TLS.
func denyInsecure(policy map[string]any) bool {
	for _, s := range list(dig(policy, "Properties", "PolicyDocument", "Statement")) {
		if dig(s, "Effect") == "Deny" && dig(s, "Condition", "Bool", "aws:SecureTransport") == "false" {
			return true
		}
	}
	return false
}

// policiesOf maps a resource's logical id to its resource policies of a type.
func policiesOf(typ, listKey string) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, p := range resources(typ) {
		for _, target := range refs(dig(p, "Properties", listKey)) {
			out[target] = append(out[target], p)
		}
	}
	return out
}

func TestQueuesHaveDeadLettersEncryptionAndTLS(t *testing.T) {
	queuePolicies := policiesOf("AWS::SQS::QueuePolicy", "Queues")
	tlsOnly := func(id string) bool {
		return slices.ContainsFunc(queuePolicies[id], denyInsecure)
	}
	for _, q := range schema.Queues {
		id := logicalID(t, pascal(q.Name)+"Queue")
		p := resources("")[id]["Properties"]
		if dig(p, "VisibilityTimeout") != float64(q.VisibilitySeconds) {
			t.Errorf("%s: visibility %v, want %d", q.Name, dig(p, "VisibilityTimeout"), q.VisibilitySeconds)
		}
		if dig(p, "RedrivePolicy", "maxReceiveCount") != float64(q.MaxReceives) {
			t.Errorf("%s: maxReceiveCount %v, want %d", q.Name, dig(p, "RedrivePolicy", "maxReceiveCount"), q.MaxReceives)
		}
		dlq := refs(dig(p, "RedrivePolicy", "deadLetterTargetArn"))
		if len(dlq) != 1 || resources("")[dlq[0]]["Type"] != "AWS::SQS::Queue" {
			t.Errorf("%s: no dead-letter queue", q.Name)
			continue
		}
		// Messages in flight name pseudonyms (docs/PRIVACY.md): kept no longer than stated.
		if dig(p, "MessageRetentionPeriod") != float64(queueRetentionDays*24*3600) || queueRetentionDays != 4 {
			t.Errorf("%s: messages kept %v s, want %d days", q.Name, dig(p, "MessageRetentionPeriod"), queueRetentionDays)
		}
		dp := resources("")[dlq[0]]["Properties"]
		if dig(dp, "MessageRetentionPeriod") != float64(14*24*3600) {
			t.Errorf("%s: dead letters kept %v s, want 14 days", q.Name, dig(dp, "MessageRetentionPeriod"))
		}
		for name, qid := range map[string]string{q.Name: id, q.Name + " DLQ": dlq[0]} {
			qp := resources("")[qid]["Properties"]
			if dig(qp, "SqsManagedSseEnabled") != true && dig(qp, "KmsMasterKeyId") == nil {
				t.Errorf("%s: not encrypted", name)
			}
			if !tlsOnly(qid) {
				t.Errorf("%s: plain-HTTP requests are not denied", name)
			}
		}
	}
}

func TestBucketsArePrivateTLSOnlyLoggedAndExpire(t *testing.T) {
	if !slices.ContainsFunc(schema.Buckets, func(b schema.Bucket) bool { return b.Name == schema.BucketMedia && b.EndUsersFetch }) {
		t.Error("the media bucket, which visitors' browsers load images from, is not marked EndUsersFetch")
	}
	bucketPolicies := policiesOf("AWS::S3::BucketPolicy", "Bucket")
	all := resources("AWS::S3::Bucket")
	if len(all) != len(schema.Buckets)+1 {
		t.Errorf("%d buckets, want the schema's %d plus the access-log bucket", len(all), len(schema.Buckets))
	}
	for id, b := range all {
		p := b["Properties"]
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if dig(p, "PublicAccessBlockConfiguration", k) != true {
				t.Errorf("bucket %s: %s not set", id, k)
			}
		}
		if !slices.ContainsFunc(bucketPolicies[id], denyInsecure) {
			t.Errorf("bucket %s: plain-HTTP requests are not denied", id)
		}
		if !strings.Contains(fmt.Sprint(dig(p, "BucketEncryption")), "AES256") {
			t.Errorf("bucket %s: not S3-managed encrypted: %v", id, dig(p, "BucketEncryption"))
		}
	}
	logs := logicalID(t, "AccessLogsBucket")
	for _, sb := range schema.Buckets {
		id := logicalID(t, pascal(sb.Name)+"Bucket")
		p := all[id]["Properties"]
		if got := dig(p, "VersioningConfiguration", "Status") == "Enabled"; got != sb.Versioned {
			t.Errorf("%s: versioned %v, want %v", sb.Name, got, sb.Versioned)
		}
		// Server access logs keep each requester's whole IP address and user agent: none
		// for the buckets visitors and data subjects load from directly.
		if logged := slices.Contains(refs(dig(p, "LoggingConfiguration")), logs); logged == sb.EndUsersFetch {
			t.Errorf("%s: server access logs %v, want %v (end users fetch from it: %v)", sb.Name, logged, !sb.EndUsersFetch, sb.EndUsersFetch)
		}
		var expire, oldVersions any
		markers := false
		for _, r := range list(dig(p, "LifecycleConfiguration", "Rules")) {
			if e := dig(r, "ExpirationInDays"); e != nil {
				expire = e
			}
			if e := dig(r, "NoncurrentVersionExpiration", "NoncurrentDays"); e != nil {
				oldVersions = e
			}
			markers = markers || dig(r, "ExpiredObjectDeleteMarker") == true
		}
		// Old versions of a versioned bucket expire (PRIVACY.md), and so do the delete
		// markers left once they have.
		if sb.Versioned && (oldVersions != float64(noncurrentVersionDays) || !markers) {
			t.Errorf("%s: old versions expire after %v days (want %d), expired delete markers removed %v", sb.Name, oldVersions, noncurrentVersionDays, markers)
		}
		switch {
		case sb.ExpireDays > 0 && expire != float64(sb.ExpireDays):
			t.Errorf("%s: objects expire after %v days, want %d", sb.Name, expire, sb.ExpireDays)
		case sb.ExpireDays == 0 && expire != nil:
			t.Errorf("%s: objects expire after %v days, want never", sb.Name, expire)
		}
	}
}

// deployed lists the functions the test stack creates.
func deployed() []string {
	names := append(routes.Functions(), functionRotateKeys)
	for _, q := range consumerQueues() {
		if !slices.Contains(names, q.Consumer) { // a consumer may also serve HTTP routes
			names = append(names, q.Consumer)
		}
	}
	return names
}

func TestFunctionsRunArmAL2023WithTracingAndGrantedEnv(t *testing.T) {
	if n := len(resources("AWS::Lambda::Function")); n != len(deployed()) {
		t.Errorf("%d functions, want %d", n, len(deployed()))
	}
	for _, name := range deployed() {
		p := resources("")[logicalID(t, pascal(name)+"Function")]["Properties"]
		if fmt.Sprint(dig(p, "Architectures")) != "[arm64]" || dig(p, "Runtime") != "provided.al2023" || dig(p, "Handler") != "bootstrap" {
			t.Errorf("%s: %v %v %v", name, dig(p, "Architectures"), dig(p, "Runtime"), dig(p, "Handler"))
		}
		if dig(p, "TracingConfig", "Mode") != "Active" {
			t.Errorf("%s: tracing %v", name, dig(p, "TracingConfig"))
		}
		if dig(p, "LoggingConfig", "LogFormat") != "JSON" {
			t.Errorf("%s: logging %v", name, dig(p, "LoggingConfig"))
		}
		size := sizes[name]
		if dig(p, "Timeout") != size.Timeout.Seconds() || dig(p, "MemorySize") != float64(size.Memory) {
			t.Errorf("%s: timeout %v memory %v, want %v %d", name, dig(p, "Timeout"), dig(p, "MemorySize"), size.Timeout, size.Memory)
		}
		want := map[string]string{}
		a := grants[name]
		for tb := range a.Tables {
			want[config.EnvName("table", tb)] = logicalID(t, pascal(tb)+"Table")
		}
		for _, q := range a.SendQueues {
			want[config.EnvName("queue", q)] = logicalID(t, pascal(q)+"Queue")
		}
		for _, b := range slices.Concat(a.ReadBuckets, a.WriteBuckets, a.DeleteBuckets) {
			want[config.EnvName("bucket", b)] = logicalID(t, pascal(b)+"Bucket")
		}
		if a.SigningKeys || a.RotateSigningKeys {
			want["SIGNING_SECRET_ARN"] = logicalID(t, "SigningKeys")
		}
		if a.PrivacyKey {
			want["PRIVACY_KEY_SECRET_ARN"] = logicalID(t, "PrivacyKey")
		}
		if a.SendEmail {
			want["MAIL_FROM"] = "MailFrom" // the parameter
		}
		if a.SendNotices {
			want["MAIL_NOTICE_CONFIGURATION_SET"] = logicalID(t, "PrivacyNotices")
		}
		for tb := range a.WritePrefixTables {
			want[config.EnvName("table", tb)] = logicalID(t, pascal(tb)+"Table")
		}
		if a.PublicURL {
			want["PUBLIC_URL"] = logicalID(t, "Api")
		}
		vars := dig(p, "Environment", "Variables").(map[string]any)
		if lim, want := vars["GOMEMLIMIT"], fmt.Sprintf("%dMiB", size.Memory*9/10); lim != want {
			t.Errorf("%s: GOMEMLIMIT %v, want %s (90%% of its memory)", name, lim, want)
		}
		delete(vars, "GOMEMLIMIT")
		got := map[string]string{}
		for k, v := range vars {
			got[k] = strings.Join(refs(v), ",")
		}
		// Lambda refuses a description over 256 characters.
		if d, _ := dig(p, "Description").(string); len(d) > 256 {
			t.Errorf("%s: description of %d characters (at most 256): %q", name, len(d), d)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: environment %v, want %v", name, got, want)
		}
	}
	// The signing keys go to exactly the functions that sign or check tokens.
	for _, name := range []string{routes.FunctionChallenge, routes.FunctionVerify} {
		if !grants[name].SigningKeys {
			t.Errorf("%s cannot read the signing keys", name)
		}
	}
}

// statementsOf returns the IAM statements attached to a function's role.
func statementsOf(t *testing.T, function string) []any {
	role := logicalID(t, pascal(function)+"Role")
	if arns := dig(resources("")[role], "Properties", "ManagedPolicyArns"); arns != nil {
		t.Errorf("%s: role has managed policies %v", function, arns)
	}
	var out []any
	for _, p := range resources("AWS::IAM::Policy") {
		if slices.Contains(refs(dig(p, "Properties", "Roles")), role) {
			out = append(out, list(dig(p, "Properties", "PolicyDocument", "Statement"))...)
		}
	}
	return out
}

func TestFunctionPoliciesNameOnlyGrantedResources(t *testing.T) {
	for _, name := range deployed() {
		a := grants[name]
		// logical id → the actions the grant table allows on it
		allowed := map[string][]string{logicalID(t, pascal(name)+"Logs"): {"logs:CreateLogStream", "logs:PutLogEvents"}}
		add := func(id string, prefixes ...string) { allowed[id] = append(allowed[id], prefixes...) }
		for tb, ta := range a.Tables {
			add(logicalID(t, pascal(tb)+"Table"), ta.Actions...)
			if len(ta.Indexes) > 0 {
				add(logicalID(t, pascal(tb)+"Table"), query)
			}
			if slices.ContainsFunc(schema.Tables, func(st schema.Table) bool { return st.Name == tb && st.CustomerKey }) {
				add(logicalID(t, "PersonalDataKey"), kmsTableReadActions...)
				if slices.ContainsFunc(ta.Actions, func(x string) bool { return slices.Contains(tableWriteActions, x) }) {
					add(logicalID(t, "PersonalDataKey"), kmsTableWriteActions...)
				}
			}
		}
		for _, q := range a.SendQueues {
			add(logicalID(t, pascal(q)+"Queue"), queueSendActions...)
		}
		for _, q := range consumerQueues() {
			if q.Consumer == name {
				add(logicalID(t, pascal(q.Name)+"Queue"), "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
			}
		}
		for _, b := range a.ReadBuckets {
			add(logicalID(t, pascal(b)+"Bucket"), "s3:GetObject")
		}
		for _, b := range a.WriteBuckets {
			add(logicalID(t, pascal(b)+"Bucket"), "s3:PutObject")
		}
		for _, b := range a.DeleteBuckets {
			add(logicalID(t, pascal(b)+"Bucket"), slices.Concat(objectDeleteActions, bucketListingActions)...)
		}
		for _, b := range a.ListBuckets {
			add(logicalID(t, pascal(b)+"Bucket"), bucketListActions...)
		}
		for _, b := range a.AbortUploads {
			add(logicalID(t, pascal(b)+"Bucket"), uploadAbortActions...)
		}
		if a.SigningKeys {
			add(logicalID(t, "SigningKeys"), secretReadActions...)
		}
		if a.RotateSigningKeys {
			add(logicalID(t, "SigningKeys"), signingKeyRotationActions...)
		}
		if a.FailedRuns {
			add(logicalID(t, pascal(name)+"FailedRunsQueue"), queueSendActions...)
		}
		if a.PrivacyKey {
			add(logicalID(t, "PrivacyKey"), secretReadActions...)
		}
		for tb, pw := range a.WritePrefixTables {
			add(logicalID(t, pascal(tb)+"Table"), pw.Actions...)
			if slices.ContainsFunc(schema.Tables, func(st schema.Table) bool { return st.Name == tb && st.CustomerKey }) {
				add(logicalID(t, "PersonalDataKey"), kmsTableWriteActions...)
			}
		}
		used := map[string]bool{}
		sendsEmail := false
		var suppressionActions []string
		for _, s := range statementsOf(t, name) {
			actions := list(dig(s, "Action"))
			if dig(s, "Effect") != "Allow" {
				continue
			}
			if fmt.Sprint(actions) == "[ses:SendEmail]" {
				sendsEmail = true
				checkSendEmail(t, name, s)
				continue
			}
			for _, act := range actions {
				if strings.Contains(act.(string), "*") {
					t.Errorf("%s: wildcard action %v", name, act)
				}
			}
			for _, res := range list(dig(s, "Resource")) {
				if res == "*" {
					for _, act := range actions {
						switch {
						case strings.HasPrefix(act.(string), "xray:"):
						case a.SuppressionList && slices.Contains(suppressionListActions, act.(string)):
							suppressionActions = append(suppressionActions, act.(string))
						default:
							t.Errorf("%s: %v on resource *", name, act)
						}
					}
					continue
				}
				ids := refs(res)
				if len(ids) != 1 {
					t.Errorf("%s: resource %v does not name one stack resource", name, res)
					continue
				}
				for _, act := range actions {
					if !slices.Contains(allowed[ids[0]], act.(string)) {
						t.Errorf("%s: %v on %s is not in the grant table", name, act, ids[0])
					}
				}
				used[ids[0]] = true
			}
		}
		for id := range allowed {
			if !used[id] {
				t.Errorf("%s: grant on %s is missing from its policy", name, id)
			}
		}
		if sendsEmail != a.SendEmail {
			t.Errorf("%s: may send e-mail %v, grant table says %v", name, sendsEmail, a.SendEmail)
		}
		slices.Sort(suppressionActions)
		if want := []string{"ses:DeleteSuppressedDestination", "ses:GetSuppressedDestination"}; a.SuppressionList && !slices.Equal(suppressionActions, want) {
			t.Errorf("%s: suppression-list actions %v, want %v", name, suppressionActions, want)
		}
	}
}

// checkSendEmail asserts the SES statement: the account's identities in the stack's
// region, and only from the MailFrom address.
func checkSendEmail(t *testing.T, function string, s any) {
	t.Helper()
	if !grants[function].SendEmail {
		t.Errorf("%s: may send e-mail without SendEmail in the grant table", function)
	}
	res := fmt.Sprint(list(dig(s, "Resource")))
	for _, part := range []string{"AWS::Partition", ":ses:", "AWS::Region", "AWS::AccountId", ":identity/*"} {
		if !strings.Contains(res, part) {
			t.Errorf("%s: ses:SendEmail resource %s lacks %s", function, res, part)
		}
	}
	if from := refs(dig(s, "Condition", "StringEquals", "ses:FromAddress")); fmt.Sprint(from) != "[MailFrom]" {
		t.Errorf("%s: ses:SendEmail not limited to the MailFrom address: %v", function, dig(s, "Condition"))
	}
}

// consumerQueues are the queues whose consumer the stack deploys.
func consumerQueues() []schema.Queue {
	var out []schema.Queue
	for _, q := range schema.Queues {
		if slices.Contains(consumers, q.Name) {
			out = append(out, q)
		}
	}
	return out
}

func TestConsumerGetsBatchesWithPartialFailures(t *testing.T) {
	mappings := resources("AWS::Lambda::EventSourceMapping")
	if len(mappings) != len(consumerQueues()) {
		t.Errorf("%d event source mappings, want one per consumer (%d)", len(mappings), len(consumerQueues()))
	}
	for _, q := range consumerQueues() {
		queue, fn := logicalID(t, pascal(q.Name)+"Queue"), logicalID(t, pascal(q.Consumer)+"Function")
		found := 0
		for _, m := range mappings {
			p := m["Properties"]
			if !slices.Contains(refs(dig(p, "EventSourceArn")), queue) {
				continue
			}
			found++
			if !slices.Contains(refs(dig(p, "FunctionName")), fn) {
				t.Errorf("%s is not delivered to %s: %v", q.Name, q.Consumer, p)
			}
			if dig(p, "BatchSize") != float64(q.BatchSize) || fmt.Sprint(dig(p, "FunctionResponseTypes")) != "[ReportBatchItemFailures]" ||
				dig(p, "ScalingConfig", "MaximumConcurrency") != float64(consumerMaxConcurrency) {
				t.Errorf("%s mapping settings %v", q.Name, p)
			}
		}
		if found != 1 {
			t.Errorf("%s: %d event source mappings, want 1", q.Name, found)
		}
		// AWS's advice for a queue feeding Lambda: visibility at least six times the
		// function's timeout, so retries of a throttled batch do not spend its receives.
		if 6*sizes[q.Consumer].Timeout.Seconds() > float64(q.VisibilitySeconds) {
			t.Errorf("%s timeout %v: the %s visibility timeout %ds is under six times it", q.Consumer, sizes[q.Consumer].Timeout, q.Name, q.VisibilitySeconds)
		}
	}
}

func TestOutputsNameTheAPIAndEveryResource(t *testing.T) {
	outputs := tmpl["Outputs"].(map[string]any)
	want := []string{"ApiUrl", "WidgetScriptUrl", "SigningSecretArn", "AlarmTopic"}
	for _, tb := range schema.Tables {
		want = append(want, envOutputID("table", tb.Name))
	}
	for _, q := range schema.Queues {
		want = append(want, envOutputID("queue", q.Name))
		// An operator reads and redrives dead letters (docs/DEPLOY.md §6).
		dlq := logicalID(t, pascal(q.Name)+"DeadLetterQueue")
		url, arn := pascal(q.Name)+"DeadLetterQueueUrl", pascal(q.Name)+"DeadLetterQueueArn"
		want = append(want, url, arn)
		if v := dig(outputs, url, "Value"); fmt.Sprint(v) != fmt.Sprint(map[string]any{"Ref": dlq}) {
			t.Errorf("output %s = %v, want the URL of %s", url, v, dlq)
		}
		if v := dig(outputs, arn, "Value"); fmt.Sprint(v) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{dlq, "Arn"}}) {
			t.Errorf("output %s = %v, want the ARN of %s", arn, v, dlq)
		}
	}
	want = append(want, "ScheduleDeadLetterQueueUrl")
	if v, q := dig(outputs, "ScheduleDeadLetterQueueUrl", "Value"), logicalID(t, "ScheduleDeadLetterQueue"); fmt.Sprint(v) != fmt.Sprint(map[string]any{"Ref": q}) {
		t.Errorf("output ScheduleDeadLetterQueueUrl = %v, want the URL of %s", v, q)
	}
	for _, b := range schema.Buckets {
		want = append(want, envOutputID("bucket", b.Name))
	}
	// An operator reads a failed scheduled run from its queue (docs/DEPLOY.md §6).
	for _, name := range scheduledFunctions() {
		id := pascal(name) + "FailedRunsQueueUrl"
		want = append(want, id)
		if v, q := dig(outputs, id, "Value"), logicalID(t, pascal(name)+"FailedRunsQueue"); fmt.Sprint(v) != fmt.Sprint(map[string]any{"Ref": q}) {
			t.Errorf("output %s = %v, want the URL of %s", id, v, q)
		}
	}
	var got []string
	for k := range outputs {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outputs %v, want %v", got, want)
	}
	if !slices.ContainsFunc(routes.Table, func(r routes.Route) bool { return r.Method == "GET" && r.Path == widgetScript }) {
		t.Errorf("no GET route serves %s", widgetScript)
	}
	if s := fmt.Sprint(dig(outputs, "WidgetScriptUrl", "Value")); !strings.HasSuffix(strings.TrimSuffix(s, "]]]"), strings.TrimPrefix(widgetScript, "/")) {
		t.Errorf("widget script URL %s", s)
	}
}

func TestNagFindsNoErrors(t *testing.T) {
	errs := assertions.Annotations_FromStack(built.stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, e := range *errs {
		t.Errorf("%s: %v", *e.Id, e.Entry.Data)
	}
}

func TestLambdaCodeUsesBuiltBinaryElsePlaceholder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "verify"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "verify", "bootstrap"), []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, err := newLambdaCode(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"verify", "admin"} {
		if _, err := code.Asset(fn); err != nil {
			t.Fatal(err)
		}
	}
	if got := code.Placeholders(); fmt.Sprint(got) != "[admin]" {
		t.Errorf("placeholders %v, want [admin]", got)
	}
	placeholder := filepath.Join(code.tmp, "admin", "bootstrap")
	info, err := os.Stat(placeholder)
	if err != nil || info.Mode()&0o111 == 0 {
		t.Fatalf("placeholder bootstrap missing or not executable: %v", err)
	}
	if err := code.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(placeholder); !os.IsNotExist(err) {
		t.Errorf("placeholder survives Close: %v", err)
	}
}
