// Command accessibility is the accessibility Lambda (API Gateway HTTP API, payload v2): the
// sign-up pages and the widget's text challenges for people who cannot solve images.
package main

import (
	"github.com/crowdgate/crowdgate/functions/accessibility/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartHTTP(handler.Wire) }
