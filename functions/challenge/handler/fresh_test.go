package handler_test

import (
	"testing"

	"github.com/crowdgate/crowdgate/shared/challenge/challengetest"
)

// A wrong answer on a site its integrator deleted since the challenge was issued gets the
// first request's documented refusal, 404 unknown_sitekey, instead of a fresh challenge.
func TestAnswerEventFailingOnADeletedSiteIsUnknownSitekey(t *testing.T) {
	f := newFix(t)
	*f.env.Sites = *challengetest.NewSites() // the site is gone
	r := f.invoke(t, "answer-fail.json")
	if r.status != 404 || errorCode(t, r) != "unknown_sitekey" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if f.env.Store.Len() != 1 {
		t.Fatalf("%d challenges stored: a fresh one was issued for a deleted site", f.env.Store.Len())
	}
	if r.headers["Access-Control-Allow-Origin"] != "*" {
		t.Fatal("error answer without CORS header: the widget could not read it")
	}
}
