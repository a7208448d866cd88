// Command risk is the risk Lambda: the consumer of the risk-events queue, which keeps the
// per-IP windows the challenge function scores with, and the integrator risk lookup (API
// Gateway HTTP API, payload v2). One function, two event sources.
package main

import (
	"github.com/crowdgate/crowdgate/functions/risk/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartHTTPAndSQS(handler.Wire, handler.WireConsumer) }
