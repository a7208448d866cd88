// Package schedules is the one table of scheduled jobs. The CDK stack turns each job into an
// EventBridge Scheduler schedule and the local stack into a ticker, so the two cannot drift
// (as shared/routes does for HTTP routes).
package schedules

import (
	"time"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// FunctionRotateKeys is the key-hygiene function (functions/rotatekeys): it rotates the
// token-signing keys when Secrets Manager asks and destroys expired salts on schedule.
const FunctionRotateKeys = "rotatekeys"

// Job is one scheduled job: at Cron (UTC) its Payload goes to exactly one of Function (an
// invocation) or Queue (a message, schema.Queue name).
type Job struct {
	Name     string // construct ids <Name>Schedule and <Name>ScheduleRole
	Cron     string // a Scheduler cron() or rate() expression, evaluated in UTC
	Function string
	Queue    string
	Payload  string
	Why      string
	// Local is how often the local stack runs the job. A developer's stack runs for hours, not
	// days, so daily jobs run more often there; every job is idempotent, so that is harmless.
	Local time.Duration
}

// Table lists the scheduled jobs, one line each.
var Table = []Job{
	{Name: "DestroySalts", Cron: "cron(5 0 * * ? *)", Function: FunctionRotateKeys, Payload: `{"job":"destroy-salts"}`,
		Why: "destroys the daily salts once 48 h past their day (ttl deletes lazily)", Local: time.Hour},
	// The body is the consensus function's ScheduleBody (checked by the tests).
	{Name: "ReestimateConsensus", Cron: "cron(15 * * * ? *)", Queue: schema.QueueAnswers, Payload: `{"v":1,"kind":"reestimate"}`,
		Why: "re-estimates every active job's consensus (full Dawid-Skene pass) hourly", Local: 10 * time.Minute},
	// The body is privacy.KindCloseUnverified's message (checked by privacy_doc_test.go).
	{Name: "CloseUnverifiedPrivacyRequests", Cron: "cron(20 3 * * ? *)", Queue: schema.QueuePrivacy, Payload: `{"v":1,"kind":"close_unverified"}`,
		Why: "denies privacy requests left unverified for 30 days and drops their addresses, daily", Local: time.Hour},
	// The body is privacy.KindExpireJobs's message (checked by privacy_doc_test.go).
	{Name: "SweepExpiredJobs", Cron: "cron(40 3 * * ? *)", Queue: schema.QueuePrivacy, Payload: `{"v":1,"kind":"expire_jobs"}`,
		Why: "removes the images (and records the ttl has not swept yet) of jobs past their expires_at, daily", Local: time.Hour},
}
