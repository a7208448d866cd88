package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// A stack name CloudFormation refuses (`make deploy STACK=crowdgate_staging`) stops the
// synth with an error naming the context key and the rule, not a jsii panic and its
// goroutine dump.
func TestStackNameContextIsChecked(t *testing.T) {
	for name, ok := range map[string]bool{
		"CrowdgateStaging": true, "crowdgate-2": true, strings.Repeat("a", 128): true,
		"crowdgate_staging": false, "bad name": false, "1st": false, "-x": false, strings.Repeat("a", 129): false,
	} {
		app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{ctxStackName: name}})
		got, err := stackName(app)
		if ok && (err != nil || got != name) {
			t.Errorf("stackName %q: %q, %v", name, got, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "context stackName")) {
			t.Errorf("stackName %q accepted (%q, %v)", name, got, err)
		}
	}
}
