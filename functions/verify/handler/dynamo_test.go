package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/crowdgate/crowdgate/functions/verify/handler"
	"github.com/crowdgate/crowdgate/shared/account"
	"github.com/crowdgate/crowdgate/shared/config"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/dynamo/dynamotest"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schema"
	"github.com/crowdgate/crowdgate/shared/token"
)

// 200 integrators' backends verify the same token at once through the real handler over
// DynamoDB Local: exactly one is told success.
func TestConcurrentSiteverifyOneTokenOnDynamoDB(t *testing.T) {
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	ctx := context.Background()
	sites := account.NewService(dynamo.NewAccounts(c, tables[schema.TableAccounts]), time.Now)
	tokens := dynamo.NewTokens(c, tables[schema.TableChallenges])
	signer, err := token.NewSigner(evKeys)
	if err != nil {
		t.Fatal(err)
	}
	it, err := sites.CreateIntegrator(ctx, account.NewIntegrator{Name: "Example", Email: "ops@shop.example", Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	site, secret, err := sites.CreateSite(ctx, it.ID, account.NewSite{Name: "shop", Hostnames: []string{"shop.example"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, claims, err := signer.Issue(site.Sitekey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.Put(ctx, token.Record{ID: claims.ID, Sitekey: site.Sitekey, Hostname: "shop.example", ChallengeTS: claims.IssuedAt, ExpiresAt: claims.ExpiresAt}); err != nil {
		t.Fatal(err)
	}
	h := handler.New(handler.Deps{Parser: signer, Sites: sites, Redeemer: tokens, Now: time.Now})
	body := url.Values{"secret": {secret}, "response": {tok}}.Encode()

	const n = 200
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, "/siteverify", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			var a struct {
				Success bool     `json:"success"`
				Codes   []string `json:"error-codes"`
			}
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &a) != nil {
				results[i] = "status " + w.Body.String()
				return
			}
			if a.Success {
				results[i] = "success"
			} else {
				results[i] = strings.Join(a.Codes, ",")
			}
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, r := range results {
		count[r]++
	}
	if count["success"] != 1 || count["already-seen-response"] != n-1 {
		t.Fatalf("answers %v; want 1 success and %d already-seen-response", count, n-1)
	}
}

// Wire builds the same handler from a function environment (as Lambda and the local stack
// do): a site created in DynamoDB verifies a token stored there.
func TestWireOnDynamoDB(t *testing.T) {
	ep := dynamotest.Endpoint(t)
	c := dynamotest.Client(t)
	tables := dynamotest.Tables(t, c)
	env := &platform.Env{
		Config: config.Config{Tables: tables, SigningKeys: evKeys},
		AWS:    aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
		Now:    time.Now,
	}
	h, err := handler.Wire(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sites := account.NewService(dynamo.NewAccounts(c, tables[schema.TableAccounts]), time.Now)
	it, _ := sites.CreateIntegrator(ctx, account.NewIntegrator{Name: "Example", Email: "ops@shop.example", Country: "DE"})
	site, secret, err := sites.CreateSite(ctx, it.ID, account.NewSite{Name: "shop", Hostnames: []string{"shop.example"}})
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := token.NewSigner(evKeys)
	tok, claims, _ := signer.Issue(site.Sitekey, time.Now())
	if err := dynamo.NewTokens(c, tables[schema.TableChallenges]).Put(ctx, token.Record{ID: claims.ID, Sitekey: site.Sitekey, Hostname: "shop.example", ChallengeTS: claims.IssuedAt, ExpiresAt: claims.ExpiresAt, Score: 0.5}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`"success":true`, `already-seen-response`} {
		r := httptest.NewRequest(http.MethodPost, "/siteverify", strings.NewReader(url.Values{"secret": {secret}, "response": {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("call %d: %d %s, want %s", i+1, w.Code, w.Body.String(), want)
		}
	}

	env.Config.SigningKeys = "k:short"
	if _, err := handler.Wire(ctx, env); err == nil {
		t.Fatal("Wire accepted an unusable signing key")
	}
}
