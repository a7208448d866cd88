package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	rotatekeyshandler "github.com/crowdgate/crowdgate/functions/rotatekeys/handler"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schedules"
)

// eventFunction runs one scheduled payload, as Lambda runs a function invoked with JSON.
type eventFunction func(ctx context.Context, payload json.RawMessage) error

// eventFunctions maps the functions that schedules invoke directly to their Wire, adapted to
// take the raw payload (what EventBridge Scheduler delivers).
var eventFunctions = map[string]func(context.Context, *platform.Env) (eventFunction, error){
	schedules.FunctionRotateKeys: func(ctx context.Context, env *platform.Env) (eventFunction, error) {
		h, err := rotatekeyshandler.Wire(ctx, env)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, payload json.RawMessage) error {
			var ev rotatekeyshandler.Event
			if err := json.Unmarshal(payload, &ev); err != nil {
				return fmt.Errorf("decode payload: %w", err)
			}
			return h(ctx, ev)
		}, nil
	},
}

// scheduledJob is one entry of schedules.Table bound to its local target.
type scheduledJob struct {
	job schedules.Job
	run eventFunction
}

// bindSchedules resolves every job's target: a function from eventFunctions, or a queue of
// the broker (the message goes through the consumer with its retries and dead letters).
func bindSchedules(ctx context.Context, env *platform.Env, table []schedules.Job) ([]scheduledJob, error) {
	var out []scheduledJob
	for _, j := range table {
		if j.Local <= 0 {
			return nil, fmt.Errorf("schedule %s: no local interval", j.Name)
		}
		sj := scheduledJob{job: j}
		switch {
		case j.Function != "" && j.Queue == "":
			wire, ok := eventFunctions[j.Function]
			if !ok {
				return nil, fmt.Errorf("schedule %s: function %q has no local Wire", j.Name, j.Function)
			}
			run, err := wire(ctx, env)
			if err != nil {
				return nil, fmt.Errorf("schedule %s: wire %s: %w", j.Name, j.Function, err)
			}
			sj.run = run
		case j.Queue != "" && j.Function == "":
			q, err := env.Queue(j.Queue)
			if err != nil {
				return nil, fmt.Errorf("schedule %s: %w", j.Name, err)
			}
			sj.run = func(ctx context.Context, payload json.RawMessage) error { return q.SendJSON(ctx, payload) }
		default:
			return nil, fmt.Errorf("schedule %s: set exactly one of Function and Queue", j.Name)
		}
		out = append(out, sj)
	}
	return out, nil
}

// runSchedules runs each job every job.Local until ctx ends. The first run is one interval
// after start, as a deployed schedule's first run is some time after the deploy.
func runSchedules(ctx context.Context, jobs []scheduledJob, log *slog.Logger) {
	for _, sj := range jobs {
		go every(ctx, sj.job.Local, func() { runScheduled(ctx, sj, log) })
	}
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func runScheduled(ctx context.Context, sj scheduledJob, log *slog.Logger) {
	if err := sj.run(ctx, json.RawMessage(sj.job.Payload)); err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "scheduled job failed", "schedule", sj.job.Name, "err", err)
		return
	}
	log.DebugContext(ctx, "scheduled job ran", "schedule", sj.job.Name)
}
