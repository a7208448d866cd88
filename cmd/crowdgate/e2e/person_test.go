package e2e

import (
	"net/http"
	"time"
)

// Only a pass the risk scorer takes for a person publishes its answers as labeled data
// (docs/API.md, "Risk"): a Go HTTP client answering at once is scored as the bot it is.
// Tests that need a visitor's answers in consensus play a person's browser: its headers,
// the widget's telemetry and a person's time over the challenge.

// personUA is the user agent of personClient (answerer pseudonyms are keyed on it).
const personUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

// personTelemetry is a widget telemetry document with some interaction in it.
var personTelemetry = map[string]any{"v": 1, "act": 2}

// personTransport sends the headers a browser sends with the widget's fetch calls.
type personTransport struct{ next http.RoundTripper }

func (p personTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", personUA)
	if r.Header.Get("Accept-Language") == "" {
		r.Header.Set("Accept-Language", "en")
	}
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.Header.Set("Sec-Fetch-Mode", "cors")
	r.Header.Set("Sec-Fetch-Dest", "empty")
	return p.next.RoundTrip(r)
}

// personClient is a person's browser on its own loopback source address.
func personClient(source string) *http.Client {
	c := loopbackClient(source)
	c.Transport = personTransport{next: c.Transport}
	return c
}

// personSolve waits until a person could have answered a challenge of tasks tasks issued
// at issued (the scorer finds answers under 0.8 s per task too fast).
func personSolve(issued time.Time, tasks int) {
	time.Sleep(time.Until(issued.Add(time.Duration(tasks) * 1200 * time.Millisecond)))
}
