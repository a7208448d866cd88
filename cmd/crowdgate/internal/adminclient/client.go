// Package adminclient calls crowdgate's operator (admin) HTTP API. Locally the stack asks
// for its admin token; on AWS the routes are IAM-authorised, so requests are signed with
// SigV4 for execute-api. Answers are returned as raw JSON: the CLI prints them as they are,
// so it never drifts from what the server says.
package adminclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Authorizer adds credentials to a request whose body is body.
type Authorizer interface {
	Authorize(ctx context.Context, req *http.Request, body []byte) error
}

// Bearer authorises with the local stack's admin token.
type Bearer string

func (b Bearer) Authorize(_ context.Context, req *http.Request, _ []byte) error {
	req.Header.Set("Authorization", "Bearer "+string(b))
	return nil
}

// SigV4 signs requests for API Gateway (service execute-api) with AWS credentials.
type SigV4 struct {
	Credentials aws.CredentialsProvider
	Region      string
	Now         func() time.Time
}

func (s SigV4) Authorize(ctx context.Context, req *http.Request, body []byte) error {
	if s.Credentials == nil || s.Region == "" {
		return fmt.Errorf("sigv4: need AWS credentials and a region (set AWS_REGION or --region)")
	}
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("sigv4: retrieve AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", s.Region, now()); err != nil {
		return fmt.Errorf("sigv4: sign request: %w", err)
	}
	return nil
}

// Client talks to one crowdgate endpoint.
type Client struct {
	Endpoint string
	Auth     Authorizer
	HTTP     *http.Client
}

// APIError is a non-2xx answer in the JSON error envelope.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Code == "" && e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// AccountInput is the body of POST /admin/integrators and POST /admin/customers.
type AccountInput struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Country string `json:"country"`
}

// SiteInput is the body of POST /admin/integrators/{id}/sites.
type SiteInput struct {
	Name            string   `json:"name"`
	Hostnames       []string `json:"hostnames"`
	RequireRemoteIP bool     `json:"require_remoteip,omitempty"`
}

// SiteUpdate is the body of PATCH /admin/sites/{sitekey}; unset fields stay unchanged.
type SiteUpdate struct {
	Name            *string  `json:"name,omitempty"`
	Hostnames       []string `json:"hostnames,omitempty"`
	RequireRemoteIP *bool    `json:"require_remoteip,omitempty"`
}

// Accounts is the admin API of one kind of account, integrators or customers: the two
// have the same profile and the same API keys (cgi_… and cgk_…) under their own paths.
type Accounts struct {
	c    *Client
	path string
}

// Integrators are the sites' owners; their keys authenticate the integrator APIs (risk
// lookup, analytics).
func (c *Client) Integrators() Accounts { return Accounts{c, "/admin/integrators"} }

// Customers buy labels; their keys authenticate the customer API (jobs, exports).
func (c *Client) Customers() Accounts { return Accounts{c, "/admin/customers"} }

// Create registers an account.
func (a Accounts) Create(ctx context.Context, in AccountInput) (json.RawMessage, error) {
	return a.c.do(ctx, http.MethodPost, a.path, in)
}

// Get reads an account with its keys.
func (a Accounts) Get(ctx context.Context, id string) (json.RawMessage, error) {
	return a.c.do(ctx, http.MethodGet, a.path+"/"+url.PathEscape(id), nil)
}

// KeyInput is the body of POST /admin/{integrators,customers}/{id}/keys.
type KeyInput struct {
	Name string `json:"name,omitempty"`
}

// CreateKey gives an account an API key; the answer carries the key, the only time it is
// shown.
func (a Accounts) CreateKey(ctx context.Context, id string, in KeyInput) (json.RawMessage, error) {
	return a.c.do(ctx, http.MethodPost, a.path+"/"+url.PathEscape(id)+"/keys", in)
}

// RevokeKey revokes one of an account's API keys at once.
func (a Accounts) RevokeKey(ctx context.Context, id, keyID string) (json.RawMessage, error) {
	return a.c.do(ctx, http.MethodDelete, a.path+"/"+url.PathEscape(id)+"/keys/"+url.PathEscape(keyID), nil)
}

// CreateSite adds a site (sitekey and secret) to an integrator.
func (c *Client) CreateSite(ctx context.Context, integratorID string, in SiteInput) (json.RawMessage, error) {
	return c.do(ctx, http.MethodPost, "/admin/integrators/"+url.PathEscape(integratorID)+"/sites", in)
}

// GetSite reads a site.
func (c *Client) GetSite(ctx context.Context, sitekey string) (json.RawMessage, error) {
	return c.do(ctx, http.MethodGet, "/admin/sites/"+url.PathEscape(sitekey), nil)
}

// UpdateSite changes a site's settings.
func (c *Client) UpdateSite(ctx context.Context, sitekey string, in SiteUpdate) (json.RawMessage, error) {
	return c.do(ctx, http.MethodPatch, "/admin/sites/"+url.PathEscape(sitekey), in)
}

// RotateSecret issues a new secret for a site.
func (c *Client) RotateSecret(ctx context.Context, sitekey string) (json.RawMessage, error) {
	return c.do(ctx, http.MethodPost, "/admin/sites/"+url.PathEscape(sitekey)+"/secret", nil)
}

func (c *Client) do(ctx context.Context, method, path string, in any) (json.RawMessage, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	base := strings.TrimRight(c.Endpoint, "/")
	if base == "" {
		return nil, fmt.Errorf("no endpoint: pass --endpoint or set CROWDGATE_ENDPOINT")
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Auth != nil {
		if err := c.Auth.Authorize(ctx, req, body); err != nil {
			return nil, err
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{Status: resp.StatusCode}
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
			Message string `json:"message"` // API Gateway's own errors (e.g. IAM denials)
		}
		if json.Unmarshal(raw, &env) == nil {
			apiErr.Code, apiErr.Message = env.Error.Code, env.Error.Message
			if apiErr.Code == "" && env.Message != "" {
				apiErr.Message = env.Message
			}
		}
		return nil, apiErr
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%s %s: answer is not JSON", method, path)
	}
	return raw, nil
}
