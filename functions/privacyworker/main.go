// Command privacyworker is the privacy-queue consumer Lambda (SQS event source with
// partial batch responses): it carries approved data-subject requests out over every
// table and bucket, and runs the scheduled sweep of unverified requests.
package main

import (
	"github.com/crowdgate/crowdgate/functions/privacyworker/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartSQS(handler.Wire) }
