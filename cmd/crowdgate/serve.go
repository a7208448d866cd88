package main

import (
	"context"
	"fmt"
	"os"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/stack"
	"github.com/crowdgate/crowdgate/shared/platform"
)

func runServe(ctx context.Context, c *cli, args []string) int {
	fs := newFlagSet(c, "serve")
	opts := stack.Options{Out: c.stdout}
	var level string
	fs.StringVar(&opts.Addr, "addr", stack.DefaultAddr, "listen address (loopback)")
	fs.StringVar(&opts.DataDir, "data-dir", stack.DefaultDataDir, "where DynamoDB and S3 data, keys and demo.json live")
	fs.StringVar(&opts.PublicURL, "public-url", "", "base URL browsers use (default http://<addr>)")
	fs.StringVar(&level, "log-level", firstNonEmpty(c.env("LOG_LEVEL"), "info"), "log level (debug, info, warn, error)")
	pos, err := parse(fs, args)
	if err != nil {
		return parseFailed(err)
	}
	if len(pos) > 0 {
		return usageErr(c, "serve", "unexpected argument %q", pos[0])
	}
	if err := stack.CheckAddr(opts.Addr); err != nil {
		return usageErr(c, "serve", "--addr: %v", err)
	}
	// A global AWS_ENDPOINT_URL would make the SDK skip the stack's per-service loopback
	// endpoints; this process talks to nothing but its own servers.
	if os.Getenv("AWS_ENDPOINT_URL") != "" {
		fmt.Fprintln(c.stderr, "crowdgate serve: ignoring AWS_ENDPOINT_URL (the local stack uses its own loopback endpoints)")
		_ = os.Unsetenv("AWS_ENDPOINT_URL")
	}
	// Logs go to stderr so the banner on stdout stays readable.
	opts.Log = platform.NewLogger(os.Stderr, level)
	if err := stack.Run(ctx, opts); err != nil {
		fmt.Fprintf(c.stderr, "crowdgate serve: %v\n", err)
		return exitError
	}
	return exitOK
}
