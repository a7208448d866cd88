// Package routes is the one route table. The CDK stack turns it into API Gateway HTTP API
// routes and the local stack into a net/http mux, so the two cannot drift.
package routes

// Auth says who may call a route.
type Auth string

const (
	// Public routes are called by browsers (the widget) or authenticate in the handler
	// (siteverify secrets, customer and integrator API keys).
	Public Auth = "public"
	// Operator routes are IAM-authorised on AWS; the local stack asks for its admin token.
	Operator Auth = "operator"
)

// Function names: one Lambda each (functions/<name>).
const (
	FunctionChallenge = "challenge"
	FunctionVerify    = "verify"
	FunctionAdmin     = "admin"
	FunctionJobs      = "jobs"
	FunctionPrivacy   = "privacy"
	// FunctionRisk serves the integrator risk lookup and also consumes the risk-events
	// queue (schema.QueueRiskEvents): one Lambda, two event sources.
	FunctionRisk = "risk"
	// FunctionAccessibility serves the accessibility sign-up pages (first-party HTML) and
	// the text challenges the widget asks for with the accessibility cookie.
	FunctionAccessibility = "accessibility"
)

// Route is one HTTP route. Path uses the {name} placeholder syntax that both API Gateway
// and Go 1.22+ net/http patterns understand.
type Route struct {
	Method   string
	Path     string
	Function string
	Auth     Auth
	// Browser marks routes the widget calls cross-origin (CORS).
	Browser bool
	// Credentials marks browser routes called WITH cookies: CORS must name the caller's
	// origin (never "*"), so the function answers their preflights itself
	// (web.CORSWithCredentials) instead of the gateway.
	Credentials bool
}

// Pattern is the net/http ServeMux pattern of the route.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// Table lists every route of the service.
var Table = []Route{
	{Method: "GET", Path: "/1/api.js", Function: FunctionChallenge, Auth: Public, Browser: true},
	{Method: "POST", Path: "/1/challenges", Function: FunctionChallenge, Auth: Public, Browser: true},
	{Method: "POST", Path: "/1/challenges/{id}/answers", Function: FunctionChallenge, Auth: Public, Browser: true},

	{Method: "POST", Path: "/siteverify", Function: FunctionVerify, Auth: Public},
	// hCaptcha answers GET with the parameters in the query string, and integrations use it.
	{Method: "GET", Path: "/siteverify", Function: FunctionVerify, Auth: Public},

	{Method: "POST", Path: "/admin/integrators", Function: FunctionAdmin, Auth: Operator},
	{Method: "GET", Path: "/admin/integrators/{id}", Function: FunctionAdmin, Auth: Operator},
	{Method: "POST", Path: "/admin/integrators/{id}/sites", Function: FunctionAdmin, Auth: Operator},
	{Method: "POST", Path: "/admin/integrators/{id}/keys", Function: FunctionAdmin, Auth: Operator},
	{Method: "DELETE", Path: "/admin/integrators/{id}/keys/{keyId}", Function: FunctionAdmin, Auth: Operator},
	{Method: "GET", Path: "/admin/sites/{sitekey}", Function: FunctionAdmin, Auth: Operator},
	{Method: "PATCH", Path: "/admin/sites/{sitekey}", Function: FunctionAdmin, Auth: Operator},
	{Method: "POST", Path: "/admin/sites/{sitekey}/secret", Function: FunctionAdmin, Auth: Operator},
	{Method: "POST", Path: "/admin/customers", Function: FunctionAdmin, Auth: Operator},
	{Method: "GET", Path: "/admin/customers/{id}", Function: FunctionAdmin, Auth: Operator},
	{Method: "POST", Path: "/admin/customers/{id}/keys", Function: FunctionAdmin, Auth: Operator},
	{Method: "DELETE", Path: "/admin/customers/{id}/keys/{keyId}", Function: FunctionAdmin, Auth: Operator},

	// The customer API: Public at the gateway; the handler authenticates the Bearer API key.
	{Method: "POST", Path: "/v1/jobs", Function: FunctionJobs, Auth: Public},
	{Method: "GET", Path: "/v1/jobs", Function: FunctionJobs, Auth: Public},
	{Method: "GET", Path: "/v1/jobs/{id}", Function: FunctionJobs, Auth: Public},
	{Method: "DELETE", Path: "/v1/jobs/{id}", Function: FunctionJobs, Auth: Public},
	{Method: "POST", Path: "/v1/jobs/{id}/pause", Function: FunctionJobs, Auth: Public},
	{Method: "POST", Path: "/v1/jobs/{id}/resume", Function: FunctionJobs, Auth: Public},
	{Method: "GET", Path: "/v1/jobs/{id}/progress", Function: FunctionJobs, Auth: Public},
	{Method: "POST", Path: "/v1/jobs/{id}/items", Function: FunctionJobs, Auth: Public},
	{Method: "GET", Path: "/v1/jobs/{id}/items", Function: FunctionJobs, Auth: Public},
	{Method: "POST", Path: "/v1/jobs/{id}/items/commit", Function: FunctionJobs, Auth: Public},
	{Method: "POST", Path: "/v1/jobs/{id}/exports", Function: FunctionJobs, Auth: Public},
	{Method: "GET", Path: "/v1/exports/{id}", Function: FunctionJobs, Auth: Public},

	// Privacy requests: data subjects file, verify and follow them from a privacy page on
	// any origin; the compliance team decides them.
	{Method: "POST", Path: "/v1/privacy/requests", Function: FunctionPrivacy, Auth: Public, Browser: true},
	{Method: "GET", Path: "/v1/privacy/requests/{id}", Function: FunctionPrivacy, Auth: Public, Browser: true},
	{Method: "POST", Path: "/v1/privacy/requests/{id}/verify", Function: FunctionPrivacy, Auth: Public, Browser: true},
	// The access package of a completed access request: fresh presigned links (status secret).
	{Method: "GET", Path: "/v1/privacy/requests/{id}/package", Function: FunctionPrivacy, Auth: Public, Browser: true},
	{Method: "GET", Path: "/v1/privacy/end-user", Function: FunctionPrivacy, Auth: Public, Browser: true},
	{Method: "GET", Path: "/v1/compliance/requests", Function: FunctionPrivacy, Auth: Operator},
	{Method: "GET", Path: "/v1/compliance/requests/{id}", Function: FunctionPrivacy, Auth: Operator},
	{Method: "POST", Path: "/v1/compliance/requests/{id}/approve", Function: FunctionPrivacy, Auth: Operator},
	{Method: "POST", Path: "/v1/compliance/requests/{id}/deny", Function: FunctionPrivacy, Auth: Operator},
	{Method: "POST", Path: "/v1/compliance/requests/{id}/extend", Function: FunctionPrivacy, Auth: Operator},

	// Integrator risk lookup: Public at the gateway; the handler authenticates the
	// integrator API key (or one site's secret) and answers only about its sites' traffic.
	{Method: "GET", Path: "/v1/risk/challenges/{id}", Function: FunctionRisk, Auth: Public},
	{Method: "GET", Path: "/v1/risk/ips/{ip}", Function: FunctionRisk, Auth: Public},
	// A network (203.0.113.0/24) has a slash of its own: routed, so the function answers it
	// 400 invalid_ip instead of the gateway's 404 (a greedy {ip+} is not a ServeMux pattern).
	{Method: "GET", Path: "/v1/risk/ips/{ip}/{prefix}", Function: FunctionRisk, Auth: Public},
	// Integrator analytics: daily de-identified aggregates per site, same authentication.
	{Method: "GET", Path: "/v1/analytics/sites/{sitekey}/daily", Function: FunctionRisk, Auth: Public},

	// Accessibility: first-party pages (plain HTML forms) and the widget's text challenges,
	// called cross-origin WITH the cg_a11y cookie (credentialed CORS, never "*").
	{Method: "GET", Path: "/accessibility", Function: FunctionAccessibility, Auth: Public},
	{Method: "POST", Path: "/accessibility/signup", Function: FunctionAccessibility, Auth: Public},
	{Method: "GET", Path: "/accessibility/confirm", Function: FunctionAccessibility, Auth: Public},
	{Method: "POST", Path: "/accessibility/confirm", Function: FunctionAccessibility, Auth: Public},
	{Method: "POST", Path: "/accessibility/revoke", Function: FunctionAccessibility, Auth: Public},
	{Method: "POST", Path: "/1/accessibility/challenges", Function: FunctionAccessibility, Auth: Public, Browser: true, Credentials: true},
	{Method: "POST", Path: "/1/accessibility/challenges/{id}/answers", Function: FunctionAccessibility, Auth: Public, Browser: true, Credentials: true},
}

// Functions returns the distinct HTTP function names in table order.
func Functions() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range Table {
		if !seen[r.Function] {
			seen[r.Function] = true
			out = append(out, r.Function)
		}
	}
	return out
}

// For returns the routes served by one function.
func For(function string) []Route {
	var out []Route
	for _, r := range Table {
		if r.Function == function {
			out = append(out, r)
		}
	}
	return out
}
