// Command export is the exports-queue consumer Lambda (SQS event source with partial
// batch responses): it writes a job's labels to one object in the exports bucket.
package main

import (
	"github.com/crowdgate/crowdgate/functions/export/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartSQS(handler.Wire) }
