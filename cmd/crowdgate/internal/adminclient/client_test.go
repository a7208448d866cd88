package adminclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

type seen struct {
	method, path, auth, body, contentType, amzDate string
}

func server(t *testing.T, status int, answer string) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*s = seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), string(b), r.Header.Get("Content-Type"), r.Header.Get("X-Amz-Date")}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func TestCallsHitTheDocumentedRoutesWithTheBearerToken(t *testing.T) {
	ctx := context.Background()
	name := "Shop"
	cases := []struct {
		call       func(c *Client) (json.RawMessage, error)
		method     string
		path, body string
	}{
		{func(c *Client) (json.RawMessage, error) {
			return c.Integrators().Create(ctx, AccountInput{Name: "Acme", Email: "ops@acme.test", Country: "DE"})
		}, "POST", "/admin/integrators", `{"name":"Acme","email":"ops@acme.test","country":"DE"}`},
		{func(c *Client) (json.RawMessage, error) { return c.Integrators().Get(ctx, "i_1") }, "GET", "/admin/integrators/i_1", ""},
		{func(c *Client) (json.RawMessage, error) {
			return c.CreateSite(ctx, "i_1", SiteInput{Name: "Shop", Hostnames: []string{"a.test", "b.test"}})
		}, "POST", "/admin/integrators/i_1/sites", `{"name":"Shop","hostnames":["a.test","b.test"]}`},
		{func(c *Client) (json.RawMessage, error) { return c.GetSite(ctx, "sk-1") }, "GET", "/admin/sites/sk-1", ""},
		{func(c *Client) (json.RawMessage, error) {
			return c.UpdateSite(ctx, "sk-1", SiteUpdate{Name: &name})
		}, "PATCH", "/admin/sites/sk-1", `{"name":"Shop"}`},
		{func(c *Client) (json.RawMessage, error) { return c.RotateSecret(ctx, "sk-1") }, "POST", "/admin/sites/sk-1/secret", ""},
		{func(c *Client) (json.RawMessage, error) {
			return c.Integrators().CreateKey(ctx, "i_1", KeyInput{Name: "analytics"})
		}, "POST", "/admin/integrators/i_1/keys", `{"name":"analytics"}`},
		{func(c *Client) (json.RawMessage, error) {
			return c.Integrators().CreateKey(ctx, "i_1", KeyInput{})
		}, "POST", "/admin/integrators/i_1/keys", `{}`},
		{func(c *Client) (json.RawMessage, error) {
			return c.Integrators().RevokeKey(ctx, "i_1", "5e4d3c2b1a0f9e8d")
		}, "DELETE", "/admin/integrators/i_1/keys/5e4d3c2b1a0f9e8d", ""},
		{func(c *Client) (json.RawMessage, error) {
			return c.Customers().Create(ctx, AccountInput{Name: "Buyer", Email: "data@buyer.test", Country: "GB"})
		}, "POST", "/admin/customers", `{"name":"Buyer","email":"data@buyer.test","country":"GB"}`},
		{func(c *Client) (json.RawMessage, error) { return c.Customers().Get(ctx, "c_1") }, "GET", "/admin/customers/c_1", ""},
		{func(c *Client) (json.RawMessage, error) {
			return c.Customers().CreateKey(ctx, "c_1", KeyInput{Name: "nightly export"})
		}, "POST", "/admin/customers/c_1/keys", `{"name":"nightly export"}`},
		{func(c *Client) (json.RawMessage, error) {
			return c.Customers().RevokeKey(ctx, "c_1", "0a1b2c3d4e5f6a7b")
		}, "DELETE", "/admin/customers/c_1/keys/0a1b2c3d4e5f6a7b", ""},
		// Ids are path-escaped, never able to climb out of their segment.
		{func(c *Client) (json.RawMessage, error) { return c.GetSite(ctx, "../integrators/x") }, "GET", "/admin/sites/..%2Fintegrators%2Fx", ""},
	}
	for _, tc := range cases {
		srv, s := server(t, 200, `{"ok":true}`)
		c := &Client{Endpoint: srv.URL + "/", Auth: Bearer("tok")}
		out, err := tc.call(c)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if string(out) != `{"ok":true}` {
			t.Errorf("%s %s: answer %s", tc.method, tc.path, out)
		}
		if s.method != tc.method || s.path != tc.path {
			t.Errorf("called %s %s, want %s %s", s.method, s.path, tc.method, tc.path)
		}
		if s.auth != "Bearer tok" {
			t.Errorf("%s: Authorization %q", tc.path, s.auth)
		}
		if s.body != tc.body {
			t.Errorf("%s: body %s, want %s", tc.path, s.body, tc.body)
		}
		if tc.body != "" && s.contentType != "application/json" {
			t.Errorf("%s: content type %q", tc.path, s.contentType)
		}
	}
}

func TestErrorEnvelopeBecomesAPIError(t *testing.T) {
	srv, _ := server(t, 404, `{"error":{"code":"site_not_found","message":"no such site"}}`)
	_, err := (&Client{Endpoint: srv.URL}).GetSite(context.Background(), "x")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "site_not_found" || ae.Message != "no such site" {
		t.Fatalf("err = %#v", err)
	}

	// API Gateway's IAM denials use {"message": ...}.
	srv, _ = server(t, 403, `{"message":"Forbidden"}`)
	_, err = (&Client{Endpoint: srv.URL}).GetSite(context.Background(), "x")
	if !errors.As(err, &ae) || ae.Status != 403 || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("err = %v", err)
	}
}

func TestNonJSONSuccessIsAnError(t *testing.T) {
	srv, _ := server(t, 200, `<html>proxy</html>`)
	if _, err := (&Client{Endpoint: srv.URL}).GetSite(context.Background(), "x"); err == nil {
		t.Fatal("HTML answer accepted as JSON")
	}
}

func TestSigV4SignsForExecuteAPI(t *testing.T) {
	srv, s := server(t, 200, `{}`)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c := &Client{Endpoint: srv.URL, Auth: SigV4{
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Region:      "eu-west-1",
		Now:         func() time.Time { return at },
	}}
	if _, err := c.Integrators().Create(context.Background(), AccountInput{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/eu-west-1/execute-api/aws4_request"
	if !strings.HasPrefix(s.auth, want) || !strings.Contains(s.auth, "Signature=") {
		t.Errorf("Authorization = %q, want prefix %q", s.auth, want)
	}
	if s.amzDate != "20261130T120000Z" {
		t.Errorf("X-Amz-Date = %q", s.amzDate)
	}
}

func TestSigV4WithoutRegionFails(t *testing.T) {
	srv, s := server(t, 200, `{}`)
	c := &Client{Endpoint: srv.URL, Auth: SigV4{Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}}
	if _, err := c.GetSite(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "region") {
		t.Fatalf("err = %v", err)
	}
	if s.method != "" {
		t.Error("an unsigned request was sent")
	}
}
