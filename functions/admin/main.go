// Command admin is the operator API Lambda (IAM-authorised API Gateway HTTP API routes).
package main

import (
	"github.com/crowdgate/crowdgate/functions/admin/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartHTTP(handler.Wire) }
