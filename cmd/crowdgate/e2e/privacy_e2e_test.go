package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/challenge"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// Privacy requests end to end on the local stack: a data subject with an integrator
// account (a site that saw traffic and whose risk information was looked up) and a
// customer account (an API key, a labeling job with an uploaded image, an export) files
// each request type through the API, reads the code from /_outbox, verifies, the
// compliance team approves with the admin token, the privacy worker carries it out, and
// the outcome is checked in the API and in the stores themselves.

// seen collects what the suite seeded that must never appear in a log line
// (zz_lifecycle_e2e_test.go).
var seen struct {
	mu      sync.Mutex
	secrets []string // verification codes, status secrets, site secrets, API keys
	names   []string // names and addresses of data subjects
}

func remember(secret bool, vals ...string) {
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if secret {
		seen.secrets = append(seen.secrets, vals...)
	} else {
		seen.names = append(seen.names, vals...)
	}
}

// call sends a JSON request (body nil: none) with an optional bearer token and decodes the
// JSON answer; an answer that is not JSON fails the test.
func call(t *testing.T, method, u, bearer string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: status %d, not JSON: %q", method, u, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

func must(t *testing.T, want int, status int, body map[string]any, what string) map[string]any {
	t.Helper()
	if status != want {
		t.Fatalf("%s: %d %v, want %d", what, status, body, want)
	}
	return body
}

func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}

// localClients reach the stack's DynamoDB and S3 as any SDK can.
func localClients(d *demoInfo) (*dynamodb.Client, *s3.Client) {
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.DynamoDBEndpoint), Credentials: creds, DisableValidateResponseChecksum: true})
	s := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.S3Endpoint), Credentials: creds, UsePathStyle: true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired, ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})
	return db, s
}

// subject is one data subject with every kind of record crowdgate can hold about them.
type subject struct {
	email, name                    string
	integrator, sitekey, secret    string
	customer, apiKey, keyID, jobID string
	exportID, visitorIP            string
}

// traces are the values that identify the subject in any store.
func (s subject) traces() []string {
	return []string{strings.ToLower(s.email), strings.ToLower(s.name), s.integrator, s.customer, s.secret,
		account.HashSecret(s.secret), s.apiKey, account.HashAPIKey(s.apiKey), s.keyID, s.jobID, s.exportID}
}

func pngOf(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range 16 {
		img.Set(i, i, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var subjectSeq = rand.IntN(1 << 20)

// newSubject creates the subject's accounts and data through the public APIs.
func newSubject(t *testing.T, d *demoInfo, label string) subject {
	t.Helper()
	s := newSubjectData(t, d, label)
	visit(t, d, s)
	return s
}

// newSubjectData creates the subject's accounts, job, upload and export.
func newSubjectData(t *testing.T, d *demoInfo, label string) subject {
	t.Helper()
	subjectSeq++
	s := subject{
		email:     fmt.Sprintf("Subject.%s.%d@Privacy-Test.example", label, subjectSeq),
		name:      fmt.Sprintf("Ada %s Lovelace%d", label, subjectSeq),
		visitorIP: fmt.Sprintf("127.61.%d.%d", subjectSeq%250+1, subjectSeq%200+2),
	}
	remember(false, s.email, s.name)
	admin := func(path string, body any) map[string]any {
		status, out := call(t, http.MethodPost, d.URL+path, d.AdminToken, body)
		return must(t, http.StatusCreated, status, out, "POST "+path)
	}
	s.integrator = str(admin("/admin/integrators", map[string]any{"name": s.name, "email": s.email, "country": "US"}), "id")
	site := admin("/admin/integrators/"+s.integrator+"/sites", map[string]any{"name": label + " shop", "hostnames": []string{"127.0.0.1"}})
	s.sitekey, s.secret = str(site, "sitekey"), str(site, "secret")
	// The customer account uses the address in another case: requests match either.
	s.customer = str(admin("/admin/customers", map[string]any{"name": s.name, "email": strings.ToUpper(s.email), "country": "GB"}), "id")
	key := admin("/admin/customers/"+s.customer+"/keys", map[string]any{"name": "ci"})
	s.apiKey, s.keyID = str(key, "key"), str(key, "id")
	remember(true, s.secret, s.apiKey)

	status, j := call(t, http.MethodPost, d.URL+"/v1/jobs", s.apiKey, map[string]any{"name": label + " dataset", "type": "image_grid", "classes": []string{"cat", "dog"}})
	s.jobID = str(must(t, http.StatusCreated, status, j, "create job"), "id")
	// Paused at once, so the job never reaches other tests' challenges.
	status, paused := call(t, http.MethodPost, d.URL+"/v1/jobs/"+s.jobID+"/pause", s.apiKey, nil)
	must(t, http.StatusOK, status, paused, "pause job")
	img := pngOf(t)
	status, items := call(t, http.MethodPost, d.URL+"/v1/jobs/"+s.jobID+"/items", s.apiKey, map[string]any{"items": []map[string]any{
		{"id": "img-1", "image": map[string]any{"content_type": "image/png", "size": len(img)}, "gold": "cat"},
	}})
	must(t, http.StatusCreated, status, items, "add items")
	up := items["items"].([]any)[0].(map[string]any)["upload"].(map[string]any)
	req, _ := http.NewRequest(http.MethodPut, up["url"].(string), bytes.NewReader(img))
	for k, v := range up["headers"].(map[string]any) {
		req.Header.Set(k, v.(string))
	}
	req.ContentLength = int64(len(img))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("upload: %v %v", resp, err)
	}
	resp.Body.Close()
	// The upload is left uncommitted: on the local stack, committing one (an UpdateItem
	// that adds the item's gsi1 keys) leaves minidyn's gsi1 unable to find other jobs'
	// items, which would stop challenges for the rest of the suite. A pending item's
	// object is the customer's upload all the same, under the job's media prefix.
	status, e := call(t, http.MethodPost, d.URL+"/v1/jobs/"+s.jobID+"/exports", s.apiKey, map[string]any{"format": "csv"})
	s.exportID = str(must(t, http.StatusAccepted, status, e, "export"), "id")
	waitFor(t, "the export", func() bool {
		_, e := call(t, http.MethodGet, d.URL+"/v1/exports/"+s.exportID, s.apiKey, nil)
		return str(e, "status") == "done"
	})

	return s
}

// visit has a visitor open a challenge on the subject's site and the subject look the
// visitor up: a disclosure of risk information to the subject's integrator account.
func visit(t *testing.T, d *demoInfo, s subject) {
	t.Helper()
	u, _ := url.Parse(d.URL)
	status, ch := postJSON(t, loopbackClient(s.visitorIP), d.URL+"/1/challenges", map[string]any{"sitekey": s.sitekey, "host": u.Hostname(), "hl": "en"})
	if status != http.StatusOK || ch.Challenge == nil {
		t.Fatalf("challenge on the subject's site: %d %+v", status, ch)
	}
	eventually(t, d.URL, s.secret, "/v1/risk/ips/"+s.visitorIP, nil)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(asyncWait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, asyncWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var codeRE = regexp.MustCompile(`verification code is (\d{6})`)

// lastCode reads the newest verification code mailed to an address from /_outbox.
func lastCode(t *testing.T, d *demoInfo, to string) string {
	t.Helper()
	_, box := call(t, http.MethodGet, d.URL+"/_outbox?to="+url.QueryEscape(to), "", nil)
	msgs, _ := box["messages"].([]any)
	for _, m := range msgs {
		if c := codeRE.FindStringSubmatch(str(m.(map[string]any), "text")); c != nil {
			remember(true, c[1])
			return c[1]
		}
	}
	t.Fatalf("no verification code mailed to the subject: %v", box)
	return ""
}

// carriedOut files a request, verifies it if asked, approves it and waits for the worker;
// it returns the compliance view of the completed request and the status secret.
func carriedOut(t *testing.T, d *demoInfo, s subject, typ string, verify bool, extra map[string]any) (map[string]any, string) {
	t.Helper()
	body := map[string]any{"email": " " + s.email + " ", "type": typ, "regulation": "gdpr"}
	for k, v := range extra {
		body[k] = v
	}
	status, filed := call(t, http.MethodPost, d.URL+"/v1/privacy/requests", "", body)
	id := str(must(t, http.StatusAccepted, status, filed, "file "+typ), "id")
	secret := ""
	if verify {
		status, v := call(t, http.MethodPost, d.URL+"/v1/privacy/requests/"+id+"/verify", "", map[string]any{"code": lastCode(t, d, s.email)})
		secret = str(must(t, http.StatusOK, status, v, "verify"), "status_secret")
		remember(true, secret)
	}
	status, a := call(t, http.MethodPost, d.URL+"/v1/compliance/requests/"+id+"/approve", d.AdminToken, nil)
	must(t, http.StatusOK, status, a, "approve")
	var view map[string]any
	waitFor(t, typ+" request carried out", func() bool {
		_, v := call(t, http.MethodGet, d.URL+"/v1/compliance/requests/"+id, d.AdminToken, nil)
		view, _ = v["request"].(map[string]any)
		return str(view, "status") == "completed"
	})
	if verify {
		status, st := call(t, http.MethodGet, d.URL+"/v1/privacy/requests/"+id, secret, nil)
		if status != http.StatusOK || str(st, "status") != "completed" {
			t.Fatalf("the subject's status view: %d %v", status, st)
		}
	}
	return view, secret
}

// scanStores reads every item of every table and every object of every bucket, as
// lower-cased text, keyed by "table <name>" / "bucket <name>/<key>".
func scanStores(t *testing.T, d *demoInfo) map[string][]string {
	t.Helper()
	ctx := context.Background()
	db, s3c := localClients(d)
	out := map[string][]string{}
	for logical, table := range d.Tables {
		in := &dynamodb.ScanInput{TableName: aws.String(table)}
		for {
			page, err := db.Scan(ctx, in)
			if err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			for _, it := range page.Items {
				out["table "+logical] = append(out["table "+logical], itemText(t, it))
			}
			if len(page.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = page.LastEvaluatedKey
		}
	}
	for logical, bucket := range d.Buckets {
		pages := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatalf("list %s: %v", bucket, err)
			}
			for _, o := range page.Contents {
				obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
				if err != nil {
					t.Fatalf("get %s/%s: %v", bucket, aws.ToString(o.Key), err)
				}
				body, _ := io.ReadAll(io.LimitReader(obj.Body, 8<<20))
				obj.Body.Close()
				k := "bucket " + logical
				out[k] = append(out[k], strings.ToLower(aws.ToString(o.Key)+"\n"+string(body)))
			}
		}
	}
	return out
}

func itemText(t *testing.T, it map[string]types.AttributeValue) string {
	var m map[string]any
	if err := attributevalue.UnmarshalMap(it, &m); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	return strings.ToLower(string(b))
}

// tracesIn lists where any of the values appears.
func tracesIn(stores map[string][]string, values []string, skip func(store string) bool) []string {
	var found []string
	for store, texts := range stores {
		if skip != nil && skip(store) {
			continue
		}
		for _, text := range texts {
			for _, v := range values {
				if v != "" && strings.Contains(text, strings.ToLower(v)) {
					found = append(found, fmt.Sprintf("%s holds %q: %.300s", store, v, text))
				}
			}
		}
	}
	return found
}

func TestPrivacyRequestsEndToEnd(t *testing.T) {
	d := startStack(t)

	t.Run("access", func(t *testing.T) {
		s := newSubject(t, d, "access")
		view, secret := carriedOut(t, d, s, "access", true, nil)
		if rep, _ := view["report"].(map[string]any); rep["package"] == nil || rep["accounts"] == nil {
			t.Fatalf("report %v", view["report"])
		}
		status, links := call(t, http.MethodGet, d.URL+"/v1/privacy/requests/"+str(view, "id")+"/package", secret, nil)
		must(t, http.StatusOK, status, links, "package links")
		if links["expires_in"] != 900.0 {
			t.Errorf("link lifetime %v", links["expires_in"])
		}
		get := func(u string) []byte {
			resp, err := http.Get(u)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("download %s: %v %v", u, resp, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return b
		}
		raw := get(str(links, "links", "json"))
		var pkg struct {
			Records []struct {
				Store, Kind, ID string
				Fields          map[string]string
			} `json:"records"`
		}
		if err := json.Unmarshal(raw, &pkg); err != nil {
			t.Fatalf("package: %v", err)
		}
		kinds := map[string]int{}
		for _, r := range pkg.Records {
			kinds[r.Kind]++
		}
		for kind, n := range map[string]int{"integrator": 1, "site": 1, "customer": 1, "api_key": 1, "job": 1, "item": 1, "export": 1, "disclosure": 1, "privacy_request": 1} {
			if kinds[kind] < n {
				t.Errorf("package has %d %s records, want at least %d (all: %v)", kinds[kind], kind, n, kinds)
			}
		}
		for _, want := range []string{s.email, s.sitekey, s.integrator, s.customer, s.jobID, s.exportID, s.keyID} {
			if !bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(want))) {
				t.Errorf("the package does not mention %q", want)
			}
		}
		for _, leak := range []string{s.secret, account.HashSecret(s.secret), s.apiKey, account.HashAPIKey(s.apiKey), d.AdminToken} {
			if bytes.Contains(raw, []byte(leak)) {
				t.Errorf("the package contains a secret or its hash")
			}
		}
		if csv := get(str(links, "links", "csv")); !bytes.HasPrefix(csv, []byte("store,kind,id,field,value\n")) || !bytes.Contains(bytes.ToLower(csv), []byte(strings.ToLower(s.email))) {
			t.Errorf("CSV package: %.200s", csv)
		}
		// Asking again gives fresh links; another request's secret gets nothing.
		_, again := call(t, http.MethodGet, d.URL+"/v1/privacy/requests/"+str(view, "id")+"/package", secret, nil)
		if str(again, "links", "json") == "" {
			t.Error("a second ask gave no links")
		}
		if status, _ := call(t, http.MethodGet, d.URL+"/v1/privacy/requests/"+str(view, "id")+"/package", "pss_"+strings.Repeat("A", 43), nil); status != http.StatusNotFound {
			t.Errorf("package with a wrong secret: %d", status)
		}
	})

	for _, typ := range []string{"delete", "child_delete", "withdraw_consent"} {
		t.Run(typ, func(t *testing.T) {
			s := newSubject(t, d, strings.ReplaceAll(typ, "_", ""))
			// An earlier access request leaves a package in the privacy bucket.
			carriedOut(t, d, s, "access", true, nil)
			before := scanStores(t, d)
			if found := tracesIn(before, []string{s.email, s.integrator, s.customer, account.HashAPIKey(s.apiKey)}, nil); len(found) < 4 {
				t.Fatalf("the subject's data was not where the test expects it: %v", found)
			}
			view, _ := carriedOut(t, d, s, typ, true, nil)
			if ids, _ := view["account_ids"].([]any); len(ids) != 0 {
				t.Errorf("the completed request keeps account ids %v", ids)
			}
			rep, _ := view["report"].(map[string]any)
			for _, store := range []string{"accounts", "jobs", "exports", "disclosures", "requests"} {
				if rep[store] == nil {
					t.Errorf("erasure report has no %s: %v", store, rep)
				}
			}
			if n, _ := rep["accounts"].(map[string]any)["integrator"].(float64); n != 1 {
				t.Errorf("erasure report: %v", rep)
			}
			// No trace of the subject in any table or bucket. Records that hold only the
			// sitekey and expire within 24 hours (risk counters, challenges) are out of
			// scope (docs/PRIVACY.md, Residual data), so the sitekey is looked for
			// everywhere else.
			after := scanStores(t, d)
			// The marker of the job's deletion (job id and time) stays until the daily
			// sweep has removed what an upload racing the deletion may have left
			// (docs/PRIVACY.md); it holds nothing else of the subject's.
			markers := map[string][]string{}
			for store, texts := range after {
				kept := texts[:0:0]
				for _, text := range texts {
					if strings.Contains(text, `"kind":"job-expiry"`) {
						markers[store] = append(markers[store], text)
					} else {
						kept = append(kept, text)
					}
				}
				after[store] = kept
			}
			for _, f := range tracesIn(after, s.traces(), nil) {
				t.Error(f)
			}
			for _, f := range tracesIn(markers, slices.DeleteFunc(s.traces(), func(v string) bool { return v == s.jobID }), nil) {
				t.Error(f)
			}
			for _, f := range tracesIn(after, []string{s.sitekey}, func(store string) bool {
				return store == "table "+schema.TableRisk || store == "table "+schema.TableChallenges
			}) {
				t.Error(f)
			}
			// The erased accounts no longer work.
			if status, _ := call(t, http.MethodGet, d.URL+"/v1/jobs", s.apiKey, nil); status != http.StatusUnauthorized {
				t.Errorf("the erased customer's API key: %d", status)
			}
			if status, _ := lookup(t, d.URL, s.secret, "/v1/risk/ips/"+s.visitorIP); status != http.StatusUnauthorized {
				t.Errorf("the erased site's secret still authenticates the risk lookup: %d", status)
			}
			if status, _ := call(t, http.MethodGet, d.URL+"/admin/integrators/"+s.integrator, d.AdminToken, nil); status != http.StatusNotFound {
				t.Errorf("the erased integrator: %d", status)
			}
		})
	}

	t.Run("correct", func(t *testing.T) {
		s := newSubject(t, d, "correct")
		newName := "Ada King " + s.name[4:]
		remember(false, newName)
		carriedOut(t, d, s, "correct", true, map[string]any{"corrections": []map[string]any{{"field": "name", "value": newName}, {"field": "country", "value": "fr"}}})
		for _, path := range []string{"/admin/integrators/" + s.integrator, "/admin/customers/" + s.customer} {
			_, acc := call(t, http.MethodGet, d.URL+path, d.AdminToken, nil)
			if str(acc, "name") != newName || str(acc, "country") != "FR" || !strings.EqualFold(str(acc, "email"), s.email) {
				t.Errorf("%s after the correction: %v", path, acc)
			}
		}
		// The old name is nowhere: corrections overwrite.
		for _, f := range tracesIn(scanStores(t, d), []string{s.name}, nil) {
			t.Error(f)
		}
	})

	for _, typ := range []string{"opt_out", "limit"} {
		t.Run(typ, func(t *testing.T) {
			s := newSubject(t, d, strings.ReplaceAll(typ, "_", ""))
			carriedOut(t, d, s, typ, false, nil) // the CCPA forbids requiring verification
			attr := map[string]string{"opt_out": "opt_out_sale", "limit": "limit_sensitive"}[typ]
			db, _ := localClients(d)
			for _, key := range [][2]string{{"INTEGRATOR#" + s.integrator, "PROFILE"}, {"SITE#" + s.sitekey, "SITE"}, {"CUSTOMER#" + s.customer, "PROFILE"}} {
				out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(d.Tables[schema.TableAccounts]), ConsistentRead: aws.Bool(true),
					Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key[0]}, "sk": &types.AttributeValueMemberS{Value: key[1]}}})
				if err != nil {
					t.Fatal(err)
				}
				if b, ok := out.Item[attr].(*types.AttributeValueMemberBOOL); !ok || !b.Value {
					t.Errorf("%s %s: %s not set: %v", key[0], key[1], attr, out.Item[attr])
				}
			}
			// Nothing was erased: the account still works.
			if status, _ := call(t, http.MethodGet, d.URL+"/v1/jobs", s.apiKey, nil); status != http.StatusOK {
				t.Errorf("after %s the API key answers %d", typ, status)
			}
			checkAnswersWithheld(t, d, s)
		})
	}
}

// checkAnswersWithheld has a visitor pass a challenge on the subject's (opted-out) site
// and another on the demo site. Consensus keeps a state per answerer pseudonym (CONS#<job>
// / ANS#<pseudonym>), so once the demo visitor's answers show up there, the subject's
// visitor's would have too had they been published.
func checkAnswersWithheld(t *testing.T, d *demoInfo, s subject) {
	t.Helper()
	subjectSeq++
	since := time.Now()
	optedOut := solveWithOpenItems(t, d, s.sitekey, fmt.Sprintf("127.63.%d.1", subjectSeq%250+1))
	control := solveWithOpenItems(t, d, d.Sitekey, fmt.Sprintf("127.64.%d.1", subjectSeq%250+1))
	answered := answererRecorded(t, d, since)
	waitFor(t, "the demo visitor's answers reaching consensus", func() bool { return answered(control) })
	if answered(optedOut) {
		t.Error("the opted-out site's visitor's answers were published as labeled data")
	}
}

// answererRecorded reports whether consensus holds state for a visitor from source: the
// labels table keeps it per answerer under ANS#<day>/<pseudonym>, on the UTC day of the
// answer. Every day from since (taken before the answers were sent) to now is looked at,
// so answers sent just before midnight UTC are found after it too.
func answererRecorded(t *testing.T, d *demoInfo, since time.Time) func(source string) bool {
	t.Helper()
	db, _ := localClients(d)
	ctx := context.Background()
	salts := dynamo.NewSalts(db, d.Tables[schema.TableRisk], dynamo.SaltPurposeAnswerer)
	recordedOn := func(day, source string) bool {
		salt, err := salts.Salt(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		key := "ANS#" + day + "/" + challenge.Pseudonym(salt, net.ParseIP(source), personUA)
		in := &dynamodb.ScanInput{TableName: aws.String(d.Tables[schema.TableLabels]), FilterExpression: aws.String("sk = :a"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: key}}}
		for {
			page, err := db.Scan(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) > 0 {
				return true
			}
			if len(page.LastEvaluatedKey) == 0 {
				return false
			}
			in.ExclusiveStartKey = page.LastEvaluatedKey
		}
	}
	return func(source string) bool {
		for day := since.UTC().Truncate(24 * time.Hour); !day.After(time.Now().UTC()); day = day.AddDate(0, 0, 1) {
			if recordedOn(day.Format(time.DateOnly), source) {
				return true
			}
		}
		return false
	}
}

// solveWithOpenItems passes a challenge on a site from a loopback source address with the
// right gold answers, as a person would (personClient), retrying until a challenge asks about unlabeled items; it returns
// the source.
func solveWithOpenItems(t *testing.T, d *demoInfo, sitekey, source string) string {
	t.Helper()
	u, _ := url.Parse(d.URL)
	db, _ := localClients(d)
	store := dynamo.NewChallenges(db, d.Tables[schema.TableChallenges])
	client := personClient(source)
	for range 5 {
		issued := time.Now()
		status, res := postJSON(t, client, d.URL+"/1/challenges", map[string]any{"sitekey": sitekey, "host": u.Hostname(), "hl": "en"})
		if status != http.StatusOK || res.Challenge == nil {
			t.Fatalf("issue on %s: %d %+v", sitekey, status, res)
		}
		rec, err := store.Get(context.Background(), res.Challenge.ID)
		if err != nil {
			t.Fatal(err)
		}
		open := false
		for _, task := range rec.Tasks {
			for _, it := range task.Items {
				open = open || !it.Gold
			}
		}
		answers := oracleAnswers(t, d, rec.ID)
		personSolve(issued, len(rec.Tasks))
		status, res = postJSON(t, client, d.URL+"/1/challenges/"+rec.ID+"/answers", map[string]any{"sitekey": sitekey, "answers": answers, "telemetry": personTelemetry})
		if status != http.StatusOK || !res.Pass {
			t.Fatalf("answer on %s: %d %+v", sitekey, status, res)
		}
		if open {
			return source
		}
	}
	t.Fatal("five challenges without an unlabeled item")
	return ""
}

// Bad and hostile input is refused with a documented 4xx, and nothing an attacker sends
// can make the worker act on someone else's account.
func TestPrivacyRefusesBadAndHostileInput(t *testing.T) {
	d := startStack(t)
	file := func(body any) (int, map[string]any) {
		return call(t, http.MethodPost, d.URL+"/v1/privacy/requests", "", body)
	}
	for _, c := range []struct {
		body any
		code string
	}{
		{map[string]any{"email": "victim@example.com\r\nBcc: attacker@evil.example", "type": "delete", "regulation": "ccpa"}, "invalid_email"},
		{map[string]any{"email": "Victim <victim@example.com>", "type": "delete", "regulation": "ccpa"}, "invalid_email"},
		{map[string]any{"email": strings.Repeat("a", 300) + "@example.com", "type": "delete", "regulation": "ccpa"}, "invalid_email"},
		{map[string]any{"email": "victim@example.com", "type": "delete_everything", "regulation": "ccpa"}, "invalid_type"},
		{map[string]any{"email": "victim@example.com", "type": "delete", "regulation": "pipeda"}, "invalid_regulation"},
		{map[string]any{"email": "victim@example.com", "type": "correct", "regulation": "ccpa", "corrections": []map[string]any{{"field": "country", "value": "Atlantis"}}}, "invalid_corrections"},
		{map[string]any{"email": "victim@example.com", "type": "correct", "regulation": "ccpa", "corrections": []map[string]any{{"field": "secret_hash", "value": "x"}}}, "invalid_corrections"},
		{map[string]any{"email": "victim@example.com", "type": "delete", "regulation": "ccpa", "account_ids": []string{"x"}}, "invalid_json"},
		{map[string]any{"email": "victim@example.com", "type": "delete", "regulation": "ccpa", "details": strings.Repeat("x", 40000)}, "body_too_large"},
	} {
		status, body := file(c.body)
		if status/100 != 4 || str(body, "error", "code") != c.code {
			t.Errorf("filing %.80v: %d %v, want %s", c.body, status, body, c.code)
		}
	}

	// A victim with an account; an attacker files a delete for the victim's address.
	victim := newSubject(t, d, "victim")
	status, filed := file(map[string]any{"email": victim.email, "type": "delete", "regulation": "ccpa"})
	id := str(must(t, http.StatusAccepted, status, filed, "file"), "id")
	// Without the code the attacker cannot verify, and an unverified delete cannot be approved.
	// The guesses are wrong for sure: any code but the one mailed.
	code := lastCode(t, d, victim.email)
	for i, guess := 0, 111111; i < 3; guess += 111111 {
		if g := fmt.Sprintf("%06d", guess); g != code {
			status, body := call(t, http.MethodPost, d.URL+"/v1/privacy/requests/"+id+"/verify", "", map[string]any{"code": g})
			if status != http.StatusForbidden && status != http.StatusGone {
				t.Errorf("guess %d: %d %v", i, status, body)
			}
			i++
		}
	}
	if status, body := call(t, http.MethodPost, d.URL+"/v1/privacy/requests/"+id+"/verify", "", map[string]any{"code": code}); status != http.StatusGone {
		t.Errorf("the real code after three wrong guesses: %d %v, want 410", status, body)
	}
	if status, body := call(t, http.MethodPost, d.URL+"/v1/compliance/requests/"+id+"/approve", d.AdminToken, nil); status != http.StatusConflict || str(body, "error", "code") != "invalid_transition" {
		t.Errorf("approving an unverified delete: %d %v", status, body)
	}
	// Operator routes need the operator's credentials.
	if status, _ := call(t, http.MethodPost, d.URL+"/v1/compliance/requests/"+id+"/approve", "", nil); status != http.StatusUnauthorized {
		t.Errorf("approve without the admin token: %d", status)
	}
	if status, _ := call(t, http.MethodGet, d.URL+"/v1/compliance/requests?status=received", victim.secret, nil); status != http.StatusUnauthorized {
		t.Errorf("list with a site secret: %d", status)
	}
	// A withdrawal of consent needs no verification, so a forged one only records choices.
	status, filed = file(map[string]any{"email": victim.email, "type": "withdraw_consent", "regulation": "gdpr"})
	wid := str(must(t, http.StatusAccepted, status, filed, "file withdrawal"), "id")
	status, approved := call(t, http.MethodPost, d.URL+"/v1/compliance/requests/"+wid+"/approve", d.AdminToken, nil)
	must(t, http.StatusOK, status, approved, "approve withdrawal")
	waitFor(t, "the withdrawal", func() bool {
		_, v := call(t, http.MethodGet, d.URL+"/v1/compliance/requests/"+wid, d.AdminToken, nil)
		return str(v, "request", "status") == "completed"
	})
	if status, _ := call(t, http.MethodGet, d.URL+"/admin/integrators/"+victim.integrator, d.AdminToken, nil); status != http.StatusOK {
		t.Fatalf("an unverified withdrawal erased the victim's integrator account: %d", status)
	}
	if status, _ := call(t, http.MethodGet, d.URL+"/v1/jobs", victim.apiKey, nil); status != http.StatusOK {
		t.Fatalf("an unverified withdrawal erased the victim's customer account: %d", status)
	}
	// Hostile ids and secrets on the package route.
	for _, path := range []string{"/v1/privacy/requests/pr_" + strings.Repeat("0", 32) + "/package", "/v1/privacy/requests/%27%20OR%201=1/package",
		"/v1/privacy/requests/" + id + "/package"} {
		if status, _ := call(t, http.MethodGet, d.URL+path, "pss_forged", nil); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, status)
		}
	}
}
