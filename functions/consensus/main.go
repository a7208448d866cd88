// Command consensus is the answers-queue consumer Lambda (SQS event source with partial
// batch responses): online label consensus and the scheduled re-estimation pass.
package main

import (
	"github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartSQS(handler.Wire) }
