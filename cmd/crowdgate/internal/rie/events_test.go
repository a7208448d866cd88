package rie_test

import (
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/rie"
	"github.com/crowdgate/crowdgate/shared/routes"
	"github.com/crowdgate/crowdgate/shared/schedules"
)

// A function's events may be grouped in subfolders (events/admin/customers/…): they are
// its events too.
func TestEventsFindsFilesInSubfolders(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"events/admin/b.json", "events/admin/customers/a.json", "events/admin/keys/deep/c.json",
		"events/admin/README.md", "events/adminx/d.json"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := rie.Events(root, "admin")
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range got {
		r, _ := filepath.Rel(filepath.Join(root, "events", "admin"), f)
		rel = append(rel, filepath.ToSlash(r))
	}
	if want := []string{"b.json", "customers/a.json", "keys/deep/c.json"}; !reflect.DeepEqual(rel, want) {
		t.Errorf("Events(admin) = %v, want %v", rel, want)
	}
	if got, err := rie.Events(root, "none"); err != nil || len(got) != 0 {
		t.Errorf("Events of a function without events = %v, %v; want none", got, err)
	}
}

// allEventFiles lists every events/**/*.json of the module, relative to events/.
func allEventFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	dir := filepath.Join(root, "events")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			r, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(r))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The replay (TestEventsUnderRIEMatchInProcess) covers every file under events/: none is
// left out for sitting in a subfolder or in a folder no function owns.
func TestEveryEventFileIsReplayed(t *testing.T) {
	root := moduleRoot(t)
	fns, err := rie.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	replayed := map[string]bool{}
	for _, fn := range fns {
		files, err := rie.Events(root, fn)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			r, _ := filepath.Rel(filepath.Join(root, "events"), f)
			replayed[filepath.ToSlash(r)] = true
		}
	}
	all := allEventFiles(t, root)
	if len(all) == 0 {
		t.Fatal("no events/**/*.json found")
	}
	for _, f := range all {
		if !replayed[f] {
			t.Errorf("events/%s is never replayed under aws-lambda-rie", f)
		}
	}
}

// Every HTTP event is a request API Gateway can deliver to its function: its routeKey is
// one of the function's routes (or the OPTIONS route infra adds for a browser path), the
// method and path are the route's, and pathParameters hold exactly the route's placeholders
// with the values of the path, as HTTP API payload v2 carries them.
func TestHTTPEventsMatchTheirRoute(t *testing.T) {
	root := moduleRoot(t)
	fns, err := rie.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fn := range fns {
		keys := map[string]bool{}
		for _, r := range routes.For(fn) {
			keys[r.Pattern()] = true
			if r.Browser {
				keys["OPTIONS "+r.Path] = true
			}
		}
		files, err := rie.Events(root, fn)
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if k, err := rie.KindOf(body); err != nil || k != rie.KindHTTP {
				continue
			}
			n++
			name, _ := filepath.Rel(root, file)
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(body, &ev); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if !keys[ev.RouteKey] {
				t.Errorf("%s: routeKey %q is not a route of functions/%s", name, ev.RouteKey, fn)
				continue
			}
			if ev.RequestContext.RouteKey != ev.RouteKey {
				t.Errorf("%s: requestContext.routeKey %q, routeKey %q", name, ev.RequestContext.RouteKey, ev.RouteKey)
			}
			method, pattern, _ := strings.Cut(ev.RouteKey, " ")
			if ev.RequestContext.HTTP.Method != method {
				t.Errorf("%s: method %s on route %q: the gateway answers it 404 without invoking the function", name, ev.RequestContext.HTTP.Method, ev.RouteKey)
			}
			if ev.RequestContext.HTTP.Path != ev.RawPath {
				t.Errorf("%s: requestContext.http.path %q, rawPath %q", name, ev.RequestContext.HTTP.Path, ev.RawPath)
			}
			params, ok := matchRoute(pattern, ev.RawPath)
			if !ok {
				t.Errorf("%s: rawPath %q does not match route %q", name, ev.RawPath, ev.RouteKey)
				continue
			}
			got := ev.PathParameters
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, params) {
				t.Errorf("%s: pathParameters %v, want %v (route %q)", name, ev.PathParameters, params, ev.RouteKey)
			}
		}
	}
	if n == 0 {
		t.Fatal("no HTTP events found")
	}
}

// matchRoute matches path against an API Gateway route path with {name} placeholders (one
// segment each) and returns the placeholders' values, nil when there are none.
func matchRoute(pattern, path string) (map[string]string, bool) {
	ps, segs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = v
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// The events are one deployment's: every ARN and awsRegion names the region the replay
// runs the functions in (Resources.Env's default), so a rotation step names a secret the
// function could rotate.
func TestEventsNameOneRegion(t *testing.T) {
	root := moduleRoot(t)
	region := rie.Resources{}.Env()["AWS_REGION"]
	arnRE := regexp.MustCompile(`arn:aws:[a-z0-9-]+:([a-z0-9-]*):`)
	awsRegionRE := regexp.MustCompile(`"awsRegion":\s*"([^"]*)"`)
	for _, f := range allEventFiles(t, root) {
		body, err := os.ReadFile(filepath.Join(root, "events", f))
		if err != nil {
			t.Fatal(err)
		}
		var regions []string
		for _, m := range arnRE.FindAllStringSubmatch(string(body), -1) {
			if m[1] != "" { // IAM and S3 ARNs name no region
				regions = append(regions, m[1])
			}
		}
		for _, m := range awsRegionRE.FindAllStringSubmatch(string(body), -1) {
			regions = append(regions, m[1])
		}
		slices.Sort(regions)
		if regions = slices.Compact(regions); len(regions) > 0 && !slices.Equal(regions, []string{region}) {
			t.Errorf("events/%s names regions %v, want only %s", f, regions, region)
		}
	}
}

// schedulerSender is the SenderId the sample events give messages EventBridge Scheduler
// sends (through a schedule's role), so a reader does not take them for a function's.
const schedulerSender = "AROAEXAMPLE:crowdgate-scheduler"

// Every scheduled job has a sample event: the invocation payload itself, or an SQS message
// carrying it, sent by the scheduler.
func TestEveryScheduleHasASampleEvent(t *testing.T) {
	root := moduleRoot(t)
	type found struct{ file, sender string }
	byBody := map[string][]found{} // compact JSON → where it occurs
	compact := func(s string) string {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return s
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	for _, f := range allEventFiles(t, root) {
		body, err := os.ReadFile(filepath.Join(root, "events", f))
		if err != nil {
			t.Fatal(err)
		}
		byBody[compact(string(body))] = append(byBody[compact(string(body))], found{file: f})
		var sqs events.SQSEvent
		if k, _ := rie.KindOf(body); k == rie.KindSQS && json.Unmarshal(body, &sqs) == nil {
			for _, m := range sqs.Records {
				byBody[compact(m.Body)] = append(byBody[compact(m.Body)], found{file: f, sender: m.Attributes["SenderId"]})
			}
		}
	}
	for _, j := range schedules.Table {
		hits := byBody[compact(j.Payload)]
		if len(hits) == 0 {
			t.Errorf("schedule %s: no events/ file carries its payload %s", j.Name, j.Payload)
		}
		for _, h := range hits {
			if j.Queue != "" && h.sender != schedulerSender {
				t.Errorf("events/%s: schedule %s's message sent by %q, want %q", h.file, j.Name, h.sender, schedulerSender)
			}
		}
	}
}
