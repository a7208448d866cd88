package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Context keys the app reads (cdk.json "context", or `cdk synth -c key=value`).
const (
	ctxStackName = "stackName" // CloudFormation stack name; default "Crowdgate"
	ctxLambdaDir = "lambdaDir" // directory with one <function>/bootstrap per Lambda; default <repo>/build/lambda
	ctxRateLimit = "apiRateLimit"
	ctxBurst     = "apiBurstLimit"

	defaultStackName = "Crowdgate"
)

// repoRoot finds the module root (the directory holding go.mod), so the app works from the
// repo root (CDK CLI, make) and from infra/ (go test).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// newApp builds the CDK app with the context of <root>/cdk.json, so `go run ./infra` and
// the tests synthesize exactly what `cdk synth` does (the CLI's own context still wins).
// Path and asset metadata are switched on because `sam local invoke` reads them.
func newApp(root string) (awscdk.App, error) {
	ctx := map[string]any{
		"aws:cdk:enable-path-metadata":  true,
		"aws:cdk:enable-asset-metadata": true,
	}
	b, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return nil, fmt.Errorf("read cdk.json: %w", err)
	}
	var file struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("parse cdk.json: %w", err)
	}
	for k, v := range file.Context {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	awscdk.Tags_Of(app).Add(jsii.String("project"), jsii.String("crowdgate"), nil)
	// cdk-nag's AwsSolutions pack reports every finding as an error annotation, which makes
	// `cdk synth` fail; accepted findings are suppressed one resource at a time (nag.go).
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return app, nil
}

// stackNamePattern is CloudFormation's rule for a stack name (at most 128 characters).
var stackNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// stackName is the stackName context, checked here: the Stack construct refuses a bad
// name with a jsii panic and a goroutine dump.
func stackName(app awscdk.App) (string, error) {
	name := contextString(app, ctxStackName, defaultStackName)
	if !stackNamePattern.MatchString(name) {
		return "", fmt.Errorf("context %s %q: a CloudFormation stack name is a letter, then letters, digits and hyphens, at most 128 characters", ctxStackName, name)
	}
	return name, nil
}

func lambdaDir(app awscdk.App, root string) string {
	return contextString(app, ctxLambdaDir, filepath.Join(root, "build", "lambda"))
}

func contextString(app awscdk.App, key, def string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
		return v
	}
	return def
}

// contextNumber reads a positive numeric context value; `-c key=50` arrives as a string.
func contextNumber(app awscdk.App, key string, def float64) (float64, error) {
	switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
	case nil:
		return def, nil
	case float64:
		if v > 0 {
			return v, nil
		}
	case string:
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return f, nil
		}
	}
	return 0, fmt.Errorf("context %s must be a positive number", key)
}
