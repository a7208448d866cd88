package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// lambdaCode finds each function's deployment package: the directory
// <dir>/<function>/ that `make build` fills with a linux/arm64 `bootstrap`. When a function
// has not been built yet, a placeholder package is used instead, so `make synth` and the
// tests work on a fresh checkout; deploying a placeholder gives a function that fails every
// invocation with a message saying to build first.
type lambdaCode struct {
	dir  string
	tmp  string // placeholder packages, created on first need
	used map[string]bool
}

func newLambdaCode(dir string) (*lambdaCode, error) {
	if dir == "" {
		return nil, errors.New("lambda code: empty directory")
	}
	return &lambdaCode{dir: dir, used: map[string]bool{}}, nil
}

// Placeholders lists the functions whose package was a placeholder.
func (c *lambdaCode) Placeholders() []string {
	var out []string
	for name := range c.used {
		out = append(out, name)
	}
	return out
}

// Asset returns the code asset of one function.
func (c *lambdaCode) Asset(function string) (awslambda.Code, error) {
	dir := filepath.Join(c.dir, function)
	if _, err := os.Stat(filepath.Join(dir, "bootstrap")); err == nil {
		return awslambda.Code_FromAsset(jsii.String(dir), nil), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lambda code %s: %w", function, err)
	}
	dir, err := c.placeholder(function)
	if err != nil {
		return nil, err
	}
	return awslambda.Code_FromAsset(jsii.String(dir), nil), nil
}

func (c *lambdaCode) placeholder(function string) (string, error) {
	if c.tmp == "" {
		tmp, err := os.MkdirTemp("", "crowdgate-lambda-")
		if err != nil {
			return "", fmt.Errorf("lambda placeholder: %w", err)
		}
		c.tmp = tmp
	}
	dir := filepath.Join(c.tmp, function)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("lambda placeholder: %w", err)
	}
	// Deterministic content keeps the asset hash (and so the template) stable across synths.
	script := "#!/bin/sh\necho 'crowdgate: function " + function + " was not built; run make build before deploying' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("lambda placeholder: %w", err)
	}
	c.used[function] = true
	return dir, nil
}

// Close removes the placeholder packages; call it after app.Synth has staged the assets.
func (c *lambdaCode) Close() error {
	if c.tmp == "" {
		return nil
	}
	return os.RemoveAll(c.tmp)
}
