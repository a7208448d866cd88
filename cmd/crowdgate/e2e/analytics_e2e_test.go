package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/shared/analytics"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// 12 visitors pass and 3 fail on an integrator's new site, without a browser: the day's
// aggregate counts them (18 challenges: a failed answer comes with a fresh challenge), and
// once final it would show the passes and suppress the fails (3) and challenges with them,
// since 18 − 12 would bound the fails. The integrator, with a key made by `crowdgate
// integrator key create`, sees today listed but not final, every count null: the stack
// runs on the real clock, and a day is published only 24 hours after it ends. Another
// integrator's key gets 404, no key 401, a reversed range 400.
func TestStackAnalyticsCountTodayAndWithholdItUntilFinal(t *testing.T) {
	d := startStack(t)
	u, _ := url.Parse(d.URL)
	integrator := adminPost(t, d, "/admin/integrators", map[string]any{"name": "Analytics Shop", "email": "ops@analytics.example", "country": "NL"})
	site := adminPost(t, d, "/admin/integrators/"+integrator["id"].(string)+"/sites", map[string]any{"name": "shop", "hostnames": []string{u.Hostname()}})
	sitekey := site["sitekey"].(string)
	key := cliKey(t, d, integrator["id"].(string))

	// Each visitor from its own /24, so no visitor's failures make the risk checks refuse
	// another.
	visit := func(i int, pass bool) {
		client := loopbackClient(fmt.Sprintf("127.71.%d.1", i+1))
		status, res := postJSON(t, client, d.URL+"/1/challenges", map[string]any{"sitekey": sitekey, "host": u.Hostname(), "hl": "en"})
		if status != http.StatusOK || res.Challenge == nil {
			t.Fatalf("visitor %d: issue %d %+v", i, status, res)
		}
		answers := oracleAnswers(t, d, res.Challenge.ID)
		if !pass {
			answers = wrongAnswers(res.Challenge, answers)
		}
		status, res = postJSON(t, client, d.URL+"/1/challenges/"+res.Challenge.ID+"/answers", map[string]any{"sitekey": sitekey, "answers": answers})
		if status != http.StatusOK || res.Pass != pass {
			t.Fatalf("visitor %d: answer %d pass=%v, want pass=%v", i, status, res.Pass, pass)
		}
	}
	// The counts are checked on one UTC day: the visits must not straddle midnight.
	start := awayFromMidnightUTC(t, 2*time.Minute)
	today := start.Format(time.DateOnly)
	for i := range 15 {
		visit(i, i >= 3)
	}
	if day := time.Now().UTC().Format(time.DateOnly); day != today {
		t.Fatalf("the visits began on %s and ended on %s (UTC): they took over 2 minutes", today, day)
	}

	// The risk function counts asynchronously: wait until the day's aggregate is complete.
	db, _ := localClients(d)
	store := dynamo.NewAnalytics(db, d.Tables[schema.TableRisk], nil)
	q, err := analytics.ParseQuery(today, today, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := analytics.Counts{analytics.Challenges: 18, analytics.Passes: 12, analytics.Fails: 3}
	var counts analytics.Counts
	waitFor(t, "the day's aggregate to count 18 challenges, 12 passes, 3 fails", func() bool {
		got, err := store.Daily(context.Background(), sitekey, q)
		if err != nil {
			t.Fatal(err)
		}
		counts = got[today]
		for _, cell := range analytics.Cells {
			if counts[cell] != want[cell] {
				return false
			}
		}
		return true
	})
	// What the day will show once final.
	final := analytics.Publish(today, counts, analytics.FinalAt(start))
	if !final.Final || final.Values[analytics.Passes] == nil || *final.Values[analytics.Passes] != 12 ||
		!slices.Equal(final.Suppressed, []analytics.Cell{analytics.Challenges, analytics.Fails}) {
		t.Fatalf("today once final: %+v %v", final, final.Suppressed)
	}

	status, body := analyticsGet(t, d.URL, key, sitekey, "from="+today+"&to="+today)
	days, _ := body["days"].([]any)
	if status != http.StatusOK || len(days) != 1 || body["min_cell"] != float64(11) {
		t.Fatalf("analytics: %d %v", status, body)
	}
	day := days[0].(map[string]any)
	suppressed, _ := day["suppressed"].([]any)
	if day["date"] != today || day["final"] != false || suppressed == nil || len(suppressed) != 0 {
		t.Fatalf("today: %v, want listed, not final, nothing suppressed", day)
	}
	for _, cell := range analytics.Cells {
		if v, ok := day[string(cell)]; !ok || v != nil {
			t.Errorf("today's %s: %v (present %v), want null until the day is final", cell, v, ok)
		}
	}

	// The aggregate holds nothing about a visitor.
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(d.Tables[schema.TableRisk]),
		Key: dynamo.Key("AD#"+sitekey, "D#"+today)})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range out.Item {
		if !slices.Contains([]string{schema.PartitionKey, schema.SortKey, schema.TTLAttribute, "kind", "c", "p", "f", "b"}, name) {
			t.Errorf("aggregate attribute %s = %v", name, v)
		}
	}
	if ttl, ok := out.Item[schema.TTLAttribute].(*types.AttributeValueMemberN); !ok || ttl.Value != fmt.Sprint(analytics.Expires(start).Unix()) {
		t.Errorf("aggregate ttl %v, want 13 months after today", out.Item[schema.TTLAttribute])
	}

	otherIntegrator := adminPost(t, d, "/admin/integrators", map[string]any{"name": "Nosy Shop", "email": "ops@nosy.example", "country": "FR"})
	otherKey := cliKey(t, d, otherIntegrator["id"].(string))
	for _, c := range []struct {
		key, query string
		status     int
	}{
		{otherKey, "from=" + today + "&to=" + today, http.StatusNotFound},
		{"", "from=" + today + "&to=" + today, http.StatusUnauthorized},
		{key, "from=" + today + "&to=2020-01-01", http.StatusBadRequest},
	} {
		if status, body := analyticsGet(t, d.URL, c.key, sitekey, c.query); status != c.status {
			t.Errorf("%q: %d %v, want %d", c.query, status, body, c.status)
		}
	}
}

// awayFromMidnightUTC returns the time (UTC) once midnight UTC is at least margin away:
// when it is nearer, it waits until midnight has passed.
func awayFromMidnightUTC(t *testing.T, margin time.Duration) time.Time {
	t.Helper()
	now := time.Now().UTC()
	if left := now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now); left < margin {
		t.Logf("waiting %s for midnight UTC to pass", left.Round(time.Second))
		time.Sleep(left + time.Second)
	}
	return time.Now().UTC()
}

// wrongAnswers turns the right answers into wrong ones: every tile's selection and every
// question's choice flipped, so every gold decision is wrong.
func wrongAnswers(ch *apiChallenge, right []map[string]any) []map[string]any {
	byTask := map[string]map[string]any{}
	for _, a := range right {
		byTask[a["task"].(string)] = a
	}
	var out []map[string]any
	for _, task := range ch.Tasks {
		a := byTask[task.ID]
		if sel, ok := a["selected"].([]string); ok {
			flipped := []string{}
			for _, tile := range task.Tiles {
				if !slices.Contains(sel, tile.ID) {
					flipped = append(flipped, tile.ID)
				}
			}
			out = append(out, map[string]any{"task": task.ID, "selected": flipped})
			continue
		}
		choice := "yes"
		if a["choice"] == "yes" {
			choice = "no"
		}
		out = append(out, map[string]any{"task": task.ID, "choice": choice})
	}
	return out
}

// adminPost calls the stack's admin API with its admin token and wants 201.
func adminPost(t *testing.T, d *demoInfo, path string, body any) map[string]any {
	t.Helper()
	status, out := call(t, http.MethodPost, d.URL+path, d.AdminToken, body)
	return must(t, http.StatusCreated, status, out, "POST "+path)
}

// cliKey creates an integrator API key the way the README says: with the crowdgate CLI
// the stack was built as, against the running stack.
func cliKey(t *testing.T, d *demoInfo, integratorID string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(serve.dir, "crowdgate"), "integrator", "key", "create", integratorID, "--name", "analytics",
		"--endpoint", d.URL, "--admin-token", d.AdminToken)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crowdgate integrator key create: %v", err)
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &k); err != nil || k.Key == "" {
		t.Fatalf("crowdgate integrator key create printed %q: %v", out, err)
	}
	return k.Key
}

func analyticsGet(t *testing.T, base, key, sitekey, query string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/analytics/sites/"+url.PathEscape(sitekey)+"/daily?"+query, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
