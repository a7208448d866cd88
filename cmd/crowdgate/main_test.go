package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

type request struct {
	Method, Path, Auth, Body string
}

// adminServer is a stand-in admin API that records requests and answers answer.
func adminServer(t *testing.T, status int, answer string) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var reqs []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, request{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(b)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request { mu.Lock(); defer mu.Unlock(); return append([]request(nil), reqs...) }
}

// runCLI runs the CLI in-process with a clean environment plus env.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = run(context.Background(), args, &out, &errb, lookup)
	return code, out.String(), errb.String()
}

// isolateAWS keeps the default credential chain away from the developer's files and
// instance metadata.
func isolateAWS(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "eu-central-1")
}

func TestHelpAndUnknownCommands(t *testing.T) {
	code, out, _ := runCLI(t, nil, "help")
	if code != 0 || !strings.Contains(out, "serve") || !strings.Contains(out, "integrator") || !strings.Contains(out, "site") {
		t.Errorf("help: %d %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "help", "site")
	if code != 0 || !strings.Contains(out, "rotate-secret") || !strings.Contains(out, "--endpoint") {
		t.Errorf("help site: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, nil, "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, nil); code != exitUsage {
		t.Errorf("no command: %d", code)
	}
}

func TestIntegratorCreateSendsFieldsWithTheAdminToken(t *testing.T) {
	srv, reqs := adminServer(t, 201, `{"id":"i-1","name":"Acme"}`)
	code, out, errOut := runCLI(t, nil, "integrator", "create", "--endpoint", srv.URL, "--admin-token", "tok",
		"--name", "Acme", "--email", "ops@acme.test", "--country", "DE")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	r := reqs()
	if len(r) != 1 || r[0].Method != "POST" || r[0].Path != "/admin/integrators" || r[0].Auth != "Bearer tok" {
		t.Fatalf("requests %+v", r)
	}
	var body map[string]string
	_ = json.Unmarshal([]byte(r[0].Body), &body)
	if body["name"] != "Acme" || body["email"] != "ops@acme.test" || body["country"] != "DE" {
		t.Errorf("body %s", r[0].Body)
	}
	var printed map[string]any
	if err := json.Unmarshal([]byte(out), &printed); err != nil || printed["id"] != "i-1" {
		t.Errorf("stdout is not the answer JSON: %q", out)
	}
}

func TestMissingRequiredFlagsIsAUsageError(t *testing.T) {
	srv, reqs := adminServer(t, 200, `{}`)
	cases := [][]string{
		{"integrator", "create", "--name", "A", "--email", "a@b.test"},
		{"integrator", "get"},
		{"integrator", "get", "a", "b"},
		{"integrator"},
		{"integrator", "delete", "x"},
		{"site", "create", "--integrator", "i", "--name", "S"},
		{"site", "get"},
		{"site", "update", "sk"},
		{"site", "rotate-secret"},
		{"site", "create", "--bogus"},
	}
	for _, args := range cases {
		args = append(args, "--endpoint", srv.URL, "--admin-token", "t")
		if code, _, _ := runCLI(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if n := len(reqs()); n != 0 {
		t.Errorf("%d requests sent for bad command lines", n)
	}
}

func TestSiteCommandsAndFlagOrder(t *testing.T) {
	srv, reqs := adminServer(t, 200, `{"sitekey":"sk-1"}`)
	env := map[string]string{"CROWDGATE_ENDPOINT": srv.URL, "CROWDGATE_ADMIN_TOKEN": "envtok"}
	steps := []struct {
		args       []string
		method     string
		path, body string
	}{
		{[]string{"site", "create", "--integrator", "i-1", "--name", "Shop", "--hostname", "a.test", "--hostname", "b.test,c.test"},
			"POST", "/admin/integrators/i-1/sites", `{"name":"Shop","hostnames":["a.test","b.test","c.test"]}`},
		// Flags after the positional argument work too.
		{[]string{"site", "get", "sk-1", "--admin-token", "envtok"}, "GET", "/admin/sites/sk-1", ""},
		{[]string{"site", "update", "sk-1", "--hostname", "x.test"}, "PATCH", "/admin/sites/sk-1", `{"hostnames":["x.test"]}`},
		{[]string{"site", "update", "--require-remoteip=false", "sk-1"}, "PATCH", "/admin/sites/sk-1", `{"require_remoteip":false}`},
		{[]string{"site", "rotate-secret", "sk-1"}, "POST", "/admin/sites/sk-1/secret", ""},
		{[]string{"integrator", "get", "i-1"}, "GET", "/admin/integrators/i-1", ""},
	}
	for i, s := range steps {
		if code, _, errOut := runCLI(t, env, s.args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", s.args, code, errOut)
		}
		r := reqs()[i]
		if r.Method != s.method || r.Path != s.path || r.Body != s.body || r.Auth != "Bearer envtok" {
			t.Errorf("%v: sent %+v, want %s %s %s", s.args, r, s.method, s.path, s.body)
		}
	}
}

func TestSecretIsPrintedOnceWithAWarning(t *testing.T) {
	srv, _ := adminServer(t, 201, `{"sitekey":"sk-1","secret":"0xabc"}`)
	code, out, errOut := runCLI(t, nil, "site", "rotate-secret", "sk-1", "--endpoint", srv.URL, "--admin-token", "t")
	if code != 0 || !strings.Contains(out, `"secret": "0xabc"`) {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, "shown only now") {
		t.Errorf("no warning about the secret: %q", errOut)
	}
	srv, _ = adminServer(t, 200, `{"sitekey":"sk-1"}`)
	_, _, errOut = runCLI(t, nil, "site", "get", "sk-1", "--endpoint", srv.URL, "--admin-token", "t")
	if strings.Contains(errOut, "shown only now") {
		t.Error("secret warning printed for an answer without a secret")
	}
}

func TestAPIErrorsExitNonZero(t *testing.T) {
	srv, _ := adminServer(t, 401, `{"error":{"code":"unauthorized","message":"need token"}}`)
	code, out, errOut := runCLI(t, nil, "site", "get", "sk", "--endpoint", srv.URL, "--admin-token", "bad")
	if code != exitError || out != "" || !strings.Contains(errOut, "unauthorized") || !strings.Contains(errOut, "--admin-token") {
		t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestAWSModeSignsWithSigV4(t *testing.T) {
	isolateAWS(t)
	srv, reqs := adminServer(t, 200, `{}`)
	code, _, errOut := runCLI(t, nil, "site", "get", "sk-1", "--endpoint", srv.URL, "--aws", "--admin-token", "ignored")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	auth := reqs()[0].Auth
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/eu-central-1/execute-api/aws4_request") {
		t.Errorf("Authorization = %q", auth)
	}
	// --region overrides the configured one.
	runCLI(t, nil, "site", "get", "sk-1", "--endpoint", srv.URL, "--aws", "--region", "us-west-2")
	if auth := reqs()[1].Auth; !strings.Contains(auth, "/us-west-2/execute-api/") {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestWithoutAnyTokenFallsBackToSigV4(t *testing.T) {
	isolateAWS(t)
	srv, reqs := adminServer(t, 200, `{}`)
	if code, _, errOut := runCLI(t, nil, "site", "get", "sk-1", "--endpoint", srv.URL, "--data-dir", t.TempDir()); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if auth := reqs()[0].Auth; !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestLocalDemoFileSuppliesEndpointAndToken(t *testing.T) {
	isolateAWS(t)
	srv, reqs := adminServer(t, 200, `{}`)
	dir := t.TempDir()
	demo := `{"url":"` + srv.URL + `","admin_token":"filetok"}`
	if err := os.WriteFile(filepath.Join(dir, "demo.json"), []byte(demo), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, nil, "site", "get", "sk-1", "--data-dir", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if r := reqs()[0]; r.Auth != "Bearer filetok" {
		t.Errorf("Authorization = %q, want the token from demo.json", r.Auth)
	}
	// Another endpoint never receives the local token.
	other, otherReqs := adminServer(t, 200, `{}`)
	runCLI(t, nil, "site", "get", "sk-1", "--data-dir", dir, "--endpoint", other.URL)
	if auth := otherReqs()[0].Auth; strings.Contains(auth, "filetok") {
		t.Errorf("local admin token sent to another endpoint: %q", auth)
	}
}

func TestServeRejectsStrayArguments(t *testing.T) {
	for _, args := range [][]string{{"serve", "now"}, {"serve", "--bogus"}} {
		if code, _, _ := runCLI(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// Integrators and customers have the same commands, each under its own admin API path.
func TestAccountAndKeyCommands(t *testing.T) {
	for _, kind := range []struct{ noun, path, prefix string }{
		{"integrator", "/admin/integrators", "cgi_"},
		{"customer", "/admin/customers", "cgk_"},
	} {
		t.Run(kind.noun, func(t *testing.T) {
			srv, reqs := adminServer(t, 201, `{"id":"5e4d3c2b1a0f9e8d","key":"`+kind.prefix+`5e4d3c2b1a0f9e8d_abc"}`)
			env := map[string]string{"CROWDGATE_ENDPOINT": srv.URL, "CROWDGATE_ADMIN_TOKEN": "tok"}
			code, out, errOut := runCLI(t, env, kind.noun, "key", "create", "a-1", "--name", "analytics")
			if code != 0 || !strings.Contains(out, `"key": "`+kind.prefix+`5e4d3c2b1a0f9e8d_abc"`) || !strings.Contains(errOut, "API key above is shown only now") {
				t.Fatalf("key create: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			for _, args := range [][]string{
				{kind.noun, "key", "revoke", "a-1", "5e4d3c2b1a0f9e8d"},
				{kind.noun, "create", "--name", "Acme", "--email", "ops@acme.test", "--country", "DE"},
				{kind.noun, "get", "a-1"},
			} {
				if code, _, errOut := runCLI(t, env, args...); code != 0 {
					t.Fatalf("%v: exit %d: %s", args, code, errOut)
				}
			}
			want := []request{
				{"POST", kind.path + "/a-1/keys", "Bearer tok", `{"name":"analytics"}`},
				{"DELETE", kind.path + "/a-1/keys/5e4d3c2b1a0f9e8d", "Bearer tok", ""},
				{"POST", kind.path, "Bearer tok", `{"name":"Acme","email":"ops@acme.test","country":"DE"}`},
				{"GET", kind.path + "/a-1", "Bearer tok", ""},
			}
			if got := reqs(); !slices.Equal(got, want) {
				t.Fatalf("sent %+v\nwant %+v", got, want)
			}
			for _, args := range [][]string{
				{kind.noun},
				{kind.noun, "create", "--name", "Acme"},
				{kind.noun, "get"},
				{kind.noun, "key"},
				{kind.noun, "key", "create"},
				{kind.noun, "key", "revoke", "a-1"},
				{kind.noun, "key", "rotate", "a-1"},
			} {
				if code, _, _ := runCLI(t, env, args...); code != exitUsage {
					t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
				}
			}
			if n := len(reqs()); n != len(want) {
				t.Errorf("%d requests after bad command lines", n)
			}
			if code, out, _ := runCLI(t, nil, "help", kind.noun); code != 0 || !strings.Contains(out, kind.noun+" key create") || !strings.Contains(out, kind.prefix) {
				t.Errorf("help %s: %d %q", kind.noun, code, out)
			}
		})
	}
}

func TestServeRefusesANonLoopbackAddress(t *testing.T) {
	code, _, errOut := runCLI(t, nil, "serve", "--addr", ":8080", "--data-dir", t.TempDir())
	if code != exitUsage || !strings.Contains(errOut, "loopback") {
		t.Errorf("serve --addr :8080: exit %d, stderr %q", code, errOut)
	}
}

// Asking for help is not a wrong command line: the help text and exit 0, at every level.
func TestHelpFlagsExitZero(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "-h"},
		{"serve", "--help"},
		{"site", "--help"},
		{"site", "create", "-h"},
		{"integrator", "-h"},
		{"accounts", "--help"},
		{"accounts", "repair", "-h"},
		{"customer", "key", "create", "--help"},
		{"integrator", "key", "-h"},
		{"customer", "key", "--help"},
		{"eval", "-h"},
		{"train", "--help"},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != exitOK || !strings.Contains(out+errOut, "Usage") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

// The offline tools' own -h says what the command does and how it is called, like the rest
// of the CLI, not the flag package's bare "Usage of …" flag list.
func TestToolHelpDescribesTheCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"eval", "consensus", "-h"}, []string{"usage: crowdgate eval consensus --answers", "Replays the answers", "-truth"}},
		{[]string{"eval", "risk", "-h"}, []string{"usage: crowdgate eval risk --in", "crowdgate eval risk --humans DIR --lofo", "scores one session per line", "-movements"}},
		{[]string{"train", "risk", "--help"}, []string{"usage: crowdgate train risk --humans DIR --out FILE", "Trains the pointer model", "-no-eval"}},
	} {
		code, out, errOut := runCLI(t, nil, tc.args...)
		if code != exitOK || strings.Contains(errOut, "Usage of") {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out+errOut, w) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, w, out+errOut)
			}
		}
	}
}

// The admin token belongs to the local stack: it never goes to another host (a deployed
// stack is IAM-authorised and takes --aws), whether it came from the environment or a flag.
func TestAdminTokenIsNeverSentToANonLocalEndpoint(t *testing.T) {
	isolateAWS(t)
	var mu sync.Mutex
	var auths []string
	remote := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{}`)), Header: http.Header{}, Request: r}, nil
	})}
	old := http.DefaultTransport
	http.DefaultTransport = remote.Transport
	t.Cleanup(func() { http.DefaultTransport = old })

	env := map[string]string{"CROWDGATE_ENDPOINT": "https://abc123.execute-api.eu-central-1.amazonaws.com", "CROWDGATE_ADMIN_TOKEN": "cg_admin_envtok"}
	code, _, errOut := runCLI(t, env, "site", "get", "sk-1", "--data-dir", t.TempDir())
	if code != exitOK {
		t.Fatalf("site get with a stale local token in the environment: exit %d: %s", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "site", "get", "sk-1", "--data-dir", t.TempDir(),
		"--endpoint", "https://abc123.execute-api.eu-central-1.amazonaws.com", "--admin-token", "cg_admin_flagtok")
	if code == exitOK || !strings.Contains(errOut, "--aws") {
		t.Errorf("--admin-token with a remote endpoint: exit %d, stderr %q", code, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range auths {
		if strings.Contains(a, "cg_admin_") {
			t.Errorf("admin token sent to a remote endpoint: %q", a)
		}
	}
	if len(auths) == 0 || !strings.HasPrefix(auths[0], "AWS4-HMAC-SHA256 ") {
		t.Errorf("remote requests: %q, want the first signed with SigV4", auths)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
