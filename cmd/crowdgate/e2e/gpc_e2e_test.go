package e2e

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// gpcTransport adds Sec-GPC: 1 to every request, as a browser with Global Privacy Control
// enabled does.
type gpcTransport struct{ next http.RoundTripper }

func (g gpcTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Sec-GPC", "1")
	return g.next.RoundTrip(r)
}

// A visitor whose browser sends Sec-GPC: 1 passes a challenge on the demo site like anyone
// else, but their answers never reach consensus; a visitor without the signal on the same
// site does. Consensus keeps a state per answerer pseudonym (ANS#<day>/<pseudonym>), so once
// the control visitor's state shows up, the GPC visitor's would have too had their answers
// been published.
func TestGlobalPrivacyControlVisitorsAnswersAreNotPublished(t *testing.T) {
	d := startStack(t)
	gpcSource, controlSource := "127.65.1.1", "127.66.1.1"
	gpc := personClient(gpcSource)
	gpc.Transport = gpcTransport{next: gpc.Transport}
	since := time.Now()
	passWithOpenItems(t, d, gpc)
	passWithOpenItems(t, d, personClient(controlSource))

	answered := answererRecorded(t, d, since)
	waitFor(t, "the control visitor's answers reaching consensus", func() bool { return answered(controlSource) })
	if answered(gpcSource) {
		t.Error("a Sec-GPC: 1 visitor's answers were published as labeled data")
	}
}

// passWithOpenItems passes a demo-site challenge with client (a personClient), as a person
// would, retrying until a challenge asks about unlabeled items (only those are published).
func passWithOpenItems(t *testing.T, d *demoInfo, client *http.Client) {
	t.Helper()
	u, _ := url.Parse(d.URL)
	db, _ := localClients(d)
	store := dynamo.NewChallenges(db, d.Tables[schema.TableChallenges])
	for range 5 {
		issued := time.Now()
		status, res := postJSON(t, client, d.URL+"/1/challenges", map[string]any{"sitekey": d.Sitekey, "host": u.Hostname(), "hl": "en"})
		if status != http.StatusOK || res.Challenge == nil {
			t.Fatalf("issue: %d %+v", status, res)
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
		status, res = postJSON(t, client, d.URL+"/1/challenges/"+rec.ID+"/answers", map[string]any{"sitekey": d.Sitekey, "answers": answers, "telemetry": personTelemetry})
		if status != http.StatusOK || !res.Pass || res.Token == "" {
			t.Fatalf("answer: %d %+v", status, res)
		}
		if open {
			return
		}
	}
	t.Fatal("five challenges without an unlabeled item")
}
