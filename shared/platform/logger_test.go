package platform_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/shared/platform"
)

// LOG_LEVEL chooses what is logged; a value that is not a level is said once at start
// instead of silently logging at info.
func TestLoggerLevels(t *testing.T) {
	for level, debugShown := range map[string]bool{"debug": true, "DEBUG": true, "info": false, "": false} {
		var out bytes.Buffer
		log := platform.NewLogger(&out, level)
		log.Debug("detail")
		if got := strings.Contains(out.String(), "detail"); got != debugShown || strings.Contains(out.String(), "not understood") {
			t.Errorf("level %q: %s", level, out.String())
		}
	}
	var out bytes.Buffer
	log := platform.NewLogger(&out, "verbose")
	log.Debug("detail")
	log.Info("event")
	if s := out.String(); !strings.Contains(s, "log level not understood") || !strings.Contains(s, "verbose") || strings.Contains(s, "detail") || !strings.Contains(s, "event") {
		t.Errorf("unknown level: %s", s)
	}
}
