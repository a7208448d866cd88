package handler_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/web"
)

// A network instead of an address — its slash sent as it is or escaped — is 400
// invalid_ip saying to give one address, on the local stack (the function's own mux) and
// behind API Gateway (a path event of the route the gateway matched), never the 404 of a
// path no route takes. Nothing is disclosed.
func TestLookupOfANetworkAsksForOneAddress(t *testing.T) {
	for _, path := range []string{
		"/v1/risk/ips/203.0.113.0/24", "/v1/risk/ips/2001:db8::/48", "/v1/risk/ips/203.0.113.77/32",
		"/v1/risk/ips/203.0.113.0%2F24",
	} {
		check := func(via string, status int, body []byte, f *lookupFakes) {
			t.Helper()
			var e web.ErrorBody
			_ = json.Unmarshal(body, &e)
			if status != 400 || e.Error.Code != handler.CodeInvalidIP || !strings.Contains(e.Error.Message, "one address") {
				t.Errorf("%s %s: %d %s, want 400 invalid_ip asking for one address", via, path, status, body)
			}
			if len(f.disclosed) != 0 {
				t.Errorf("%s %s: disclosed %+v", via, path, f.disclosed)
			}
		}

		f := &lookupFakes{}
		rec := get(newLookup(f, newMemDays()), path, "", "Bearer "+ownKey)
		check("local", rec.Code, rec.Body.Bytes(), f)

		// API Gateway matches the route by the path's segments and hands the raw path on.
		var req events.APIGatewayV2HTTPRequest
		readEvent(t, "lookup-ip.json", &req)
		req.RawPath, req.RequestContext.HTTP.Path = path, path
		rest := strings.TrimPrefix(path, "/v1/risk/ips/")
		req.PathParameters = map[string]string{"ip": rest}
		req.RouteKey = "GET /v1/risk/ips/{ip}"
		if ip, prefix, ok := strings.Cut(rest, "/"); ok {
			req.PathParameters = map[string]string{"ip": ip, "prefix": prefix}
			req.RouteKey = "GET /v1/risk/ips/{ip}/{prefix}"
		}
		req.RequestContext.RouteKey = req.RouteKey
		raw, _ := json.Marshal(req)
		f = &lookupFakes{}
		out, err := platform.MixedHandler(newLookup(f, newMemDays()), nil)(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		resp := out.(events.APIGatewayV2HTTPResponse)
		check("gateway", resp.StatusCode, []byte(resp.Body), f)
	}
	// An address with a path after it is no lookup form at all.
	f := &lookupFakes{}
	if rec := get(newLookup(f, newMemDays()), "/v1/risk/ips/203.0.113.0/24/x", "", "Bearer "+ownKey); rec.Code != 404 {
		t.Errorf("three segments: %d %s, want 404", rec.Code, rec.Body)
	}
}
