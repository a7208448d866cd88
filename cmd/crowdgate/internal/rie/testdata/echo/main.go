// Command echo is a minimal Lambda function for the emulator tests: it answers an event
// with the event and the environment variables the event names, or fails when the event
// asks it to.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	Fail string   `json:"fail"`
	Env  []string `json:"env"`
}

func main() {
	lambda.Start(func(_ context.Context, ev json.RawMessage) (map[string]any, error) {
		var r request
		if err := json.Unmarshal(ev, &r); err != nil {
			return nil, err
		}
		if r.Fail != "" {
			return nil, errors.New(r.Fail)
		}
		env := map[string]string{}
		for _, k := range r.Env {
			env[k] = os.Getenv(k)
		}
		return map[string]any{"event": ev, "env": env}, nil
	})
}
