// Command privacy is the privacy requests Lambda: the data-subject routes (public) and the
// compliance routes (IAM-authorised API Gateway HTTP API routes).
package main

import (
	"github.com/crowdgate/crowdgate/functions/privacy/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartHTTP(handler.Wire) }
