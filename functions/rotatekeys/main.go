// Command rotatekeys is the key-hygiene Lambda: Secrets Manager invokes it to rotate the
// token-signing keys, and EventBridge Scheduler invokes it daily to destroy expired salts.
package main

import (
	"github.com/crowdgate/crowdgate/functions/rotatekeys/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func main() { platform.StartEvent(handler.Wire) }
