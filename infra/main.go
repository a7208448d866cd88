// Command infra is the CDK app: one stack, Crowdgate, built from the schema and the route
// table so the deployed service and the local stack cannot drift. Run it through the CDK CLI
// (`npx cdk synth`, cdk.json at the repo root) or directly (`CDK_OUTDIR=cdk.out go run ./infra`).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// consumers are the queues whose consumer function is deployed.
var consumers = []string{schema.QueueAnswers, schema.QueueExports, schema.QueueRiskEvents, schema.QueuePrivacy}

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	app, err := newApp(root)
	if err != nil {
		return err
	}
	code, err := newLambdaCode(lambdaDir(app, root))
	if err != nil {
		return err
	}
	// The placeholder directories only need to live until synth has copied them into the
	// cloud assembly.
	defer code.Close()
	opts := stackOptions{Code: code, Consumers: consumers}
	if opts.RateLimit, err = contextNumber(app, ctxRateLimit, defaultRateLimit); err != nil {
		return err
	}
	if opts.BurstLimit, err = contextNumber(app, ctxBurst, defaultBurstLimit); err != nil {
		return err
	}
	name, err := stackName(app)
	if err != nil {
		return err
	}
	if _, err := newCrowdgateStack(app, name, opts); err != nil {
		return err
	}
	return synth(app)
}

// synth turns the panic the jsii runtime raises for a failed synth (a cdk-nag error, for
// example) into an error.
func synth(app awscdk.App) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synth: %v", r)
		}
	}()
	app.Synth(nil)
	return nil
}
