package stack

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/localaws"
	"github.com/crowdgate/crowdgate/shared/dynamo"
	"github.com/crowdgate/crowdgate/shared/platform"
	"github.com/crowdgate/crowdgate/shared/schedules"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// capturedQueues records what the local schedules send, per queue.
type capturedQueues struct {
	mu   sync.Mutex
	sent map[string][]string
}

func (c *capturedQueues) queue(name string) (platform.Sender, error) {
	return senderFunc(func(_ context.Context, msgs ...any) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range msgs {
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			c.sent[name] = append(c.sent[name], string(b))
		}
		return nil
	}), nil
}

type senderFunc func(ctx context.Context, msgs ...any) error

func (f senderFunc) SendJSON(ctx context.Context, msgs ...any) error { return f(ctx, msgs...) }

// Every job of the schedule table runs on the local stack as its deployed schedule does: queue
// jobs deliver their payload to their queue, and the salt job destroys salts past retention.
func TestEveryScheduledJobRunsLocally(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dyn, err := localaws.StartDynamo(ctx, "", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dyn.Close() })
	qs := &capturedQueues{sent: map[string][]string{}}
	env := newEnv(LocalAWS(dyn.Endpoint(), "http://127.0.0.1:1"), "http://127.0.0.1:1", state{}, t.TempDir(), qs.queue, log)
	if err := dynamo.CreateTables(ctx, env.DynamoDB(), env.Config.Tables); err != nil {
		t.Fatal(err)
	}
	risk := env.Config.Tables[schema.TableRisk]
	oldDay := time.Now().UTC().AddDate(0, 0, -5).Format(time.DateOnly)
	recentDay := time.Now().UTC().Format(time.DateOnly)
	saltKey := func(day string) map[string]types.AttributeValue {
		return dynamo.Key("SALT#"+dynamo.SaltPurposeAnswerer+"#"+day, "SALT")
	}
	for _, day := range []string{oldDay, recentDay} {
		item := saltKey(day)
		item["salt"] = &types.AttributeValueMemberB{Value: []byte("0123456789abcdef")}
		if _, err := env.DynamoDB().PutItem(ctx, &dynamodb.PutItemInput{TableName: &risk, Item: item}); err != nil {
			t.Fatal(err)
		}
	}

	jobs, err := bindSchedules(ctx, env, schedules.Table)
	if err != nil {
		t.Fatalf("the local stack cannot run the schedule table: %v", err)
	}
	if len(jobs) != len(schedules.Table) {
		t.Fatalf("%d jobs bound, want %d", len(jobs), len(schedules.Table))
	}
	for _, sj := range jobs {
		if err := sj.run(ctx, json.RawMessage(sj.job.Payload)); err != nil {
			t.Fatalf("%s: %v", sj.job.Name, err)
		}
	}
	for _, j := range schedules.Table {
		if j.Queue == "" {
			continue
		}
		// Several jobs may share a queue: each must have sent its own payload once.
		n := 0
		for _, m := range qs.sent[j.Queue] {
			if m == j.Payload {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s sent %v to %s, want its payload %s once", j.Name, qs.sent[j.Queue], j.Queue, j.Payload)
		}
	}
	exists := func(day string) bool {
		out, err := env.DynamoDB().GetItem(ctx, &dynamodb.GetItemInput{TableName: &risk, Key: saltKey(day), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item != nil
	}
	if exists(oldDay) {
		t.Error("the salt job left a salt past its 48 h retention")
	}
	if !exists(recentDay) {
		t.Error("the salt job destroyed today's salt")
	}
}

// A table entry the local stack cannot run fails start-up instead of silently never running.
func TestScheduleWithoutLocalTargetFailsStartUp(t *testing.T) {
	env := newEnv(LocalAWS("http://127.0.0.1:1", "http://127.0.0.1:1"), "http://127.0.0.1:1", state{}, t.TempDir(),
		func(string) (platform.Sender, error) { return nil, errors.New("unknown queue") }, slog.New(slog.DiscardHandler))
	for name, table := range map[string][]schedules.Job{
		"unknown function": {{Name: "X", Function: "nope", Payload: "{}", Local: time.Hour}},
		"unknown queue":    {{Name: "X", Queue: "nope", Payload: "{}", Local: time.Hour}},
		"both targets":     {{Name: "X", Queue: schema.QueueAnswers, Function: schedules.FunctionRotateKeys, Payload: "{}", Local: time.Hour}},
		"no interval":      {{Name: "X", Queue: schema.QueueAnswers, Payload: "{}"}},
	} {
		if _, err := bindSchedules(context.Background(), env, table); err == nil {
			t.Errorf("%s: bound", name)
		}
	}
}
