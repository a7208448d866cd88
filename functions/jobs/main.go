// Command jobs is the customer API Lambda: labeling jobs and their items (routes under
// /v1/, authenticated by customer API keys in the handler).
package main

import (
	"github.com/crowdgate/crowdgate/functions/jobs/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartHTTP(handler.Wire) }
