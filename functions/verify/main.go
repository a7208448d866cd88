// Command verify is the siteverify Lambda (API Gateway HTTP API, payload v2).
package main

import (
	"github.com/crowdgate/crowdgate/functions/verify/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartHTTP(handler.Wire) }
