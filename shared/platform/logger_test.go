package platform_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/web"
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

// A queue consumer's lines name the Lambda invocation they belong to, as Lambda's own
// REPORT and timeout lines do.
func TestQueueConsumersLogTheInvocationsRequestID(t *testing.T) {
	var out bytes.Buffer
	consumer := platform.InvocationLogged(func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		web.Logger(ctx).InfoContext(ctx, "message handled")
		return events.SQSEventResponse{}, nil
	}, platform.NewLogger(&out, "info"))
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "7e1d2c3b-invocation"})
	if _, err := consumer(ctx, events.SQSEvent{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"request_id":"7e1d2c3b-invocation"`) {
		t.Fatalf("the consumer's line does not name the invocation: %s", out.String())
	}
}
