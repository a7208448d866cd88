// Command challenge is the challenge Lambda (API Gateway HTTP API, payload v2): the widget
// script, issuing challenges and grading answers.
package main

import (
	"github.com/crowdgate/crowdgate/functions/challenge/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartHTTP(handler.Wire) }
