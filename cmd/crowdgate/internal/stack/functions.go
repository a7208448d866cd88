package stack

import (
	"context"
	"net/http"

	accessibilityhandler "github.com/crowdgate/crowdgate/functions/accessibility/handler"
	adminhandler "github.com/crowdgate/crowdgate/functions/admin/handler"
	challengehandler "github.com/crowdgate/crowdgate/functions/challenge/handler"
	consensushandler "github.com/crowdgate/crowdgate/functions/consensus/handler"
	exporthandler "github.com/crowdgate/crowdgate/functions/export/handler"
	jobshandler "github.com/crowdgate/crowdgate/functions/jobs/handler"
	privacyhandler "github.com/crowdgate/crowdgate/functions/privacy/handler"
	privacyworkerhandler "github.com/crowdgate/crowdgate/functions/privacyworker/handler"
	riskhandler "github.com/crowdgate/crowdgate/functions/risk/handler"
	verifyhandler "github.com/crowdgate/crowdgate/functions/verify/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/routes"
)

// httpFunctions maps each HTTP function of the route table to the Wire its Lambda main
// calls, so the local stack mounts exactly what Lambda runs.
var httpFunctions = map[string]func(context.Context, *platform.Env) (http.Handler, error){
	routes.FunctionChallenge: challengehandler.Wire,
	routes.FunctionVerify:    verifyhandler.Wire,
	routes.FunctionAdmin:     adminhandler.Wire,
	routes.FunctionPrivacy:   privacyhandler.Wire,
	routes.FunctionJobs:      jobshandler.Wire,
	routes.FunctionRisk:      riskhandler.Wire, // the risk lookup; the same function consumes risk-events
	// Sign-up pages and text challenges; its mail goes to the outbox (/_outbox).
	routes.FunctionAccessibility: accessibilityhandler.Wire,
}

// queueConsumers maps a queue consumer (schema.Queue.Consumer) to its Wire. Queues whose
// consumer is missing keep their messages (visible in the shutdown log).
var queueConsumers = map[string]func(context.Context, *platform.Env) (platform.SQSHandler, error){
	"consensus":     consensushandler.Wire,
	"export":        exporthandler.Wire,
	"risk":          riskhandler.WireConsumer,
	"privacyworker": privacyworkerhandler.Wire,
}
