package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeSQS is a queue that refuses what SQS refuses: more than ten entries or a batch whose
// bodies add up to more than 1 MiB (the whole call fails), an entry over 1 MiB (that
// entry fails, the others are sent).
type fakeSQS struct {
	SendMessageBatchFunc func(ctx context.Context, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
}

func (f fakeSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	return f.SendMessageBatchFunc(ctx, in)
}

// limitedQueue returns a fake that enforces SQS's limits and a pointer to the bodies it
// accepted, batch by batch.
func limitedQueue() (fakeSQS, *[][]string) {
	var batches [][]string
	return fakeSQS{SendMessageBatchFunc: func(_ context.Context, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		if len(in.Entries) > 10 {
			return nil, &sqstypes.TooManyEntriesInBatchRequest{Message: aws.String(fmt.Sprint(len(in.Entries), " entries"))}
		}
		total := 0
		for _, e := range in.Entries {
			total += len(aws.ToString(e.MessageBody))
		}
		if total > 1<<20 {
			return nil, &sqstypes.BatchRequestTooLong{Message: aws.String(fmt.Sprint("batch of ", total, " bytes"))}
		}
		out := &sqs.SendMessageBatchOutput{}
		var bodies []string
		for _, e := range in.Entries {
			if n := len(aws.ToString(e.MessageBody)); n > 1<<20 {
				out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameterValue"),
					SenderFault: true, Message: aws.String(fmt.Sprint("message of ", n, " bytes"))})
				continue
			}
			bodies = append(bodies, aws.ToString(e.MessageBody))
		}
		if len(bodies) > 0 {
			batches = append(batches, bodies)
		}
		return out, nil
	}}, &batches
}

// filler is a message whose JSON encoding is exactly n bytes.
func filler(n int) string { return strings.Repeat("a", n-2) }

// Ten messages of 200 KiB fit SQS's per-message limit but not one batch: the sender
// splits them by size, and every message arrives once, in order.
func TestSQSSenderSplitsBatchesBySize(t *testing.T) {
	api, batches := limitedQueue()
	s := &sqsSender{client: api, url: "https://sqs.example/q"}
	var msgs []any
	for i := range 10 {
		msgs = append(msgs, fmt.Sprintf("%d%s", i, filler(200<<10-1)))
	}
	msgs = append(msgs, filler(1<<20)) // exactly the limit: sent, alone
	if err := s.SendJSON(context.Background(), msgs...); err != nil {
		t.Fatalf("SendJSON: %v", err)
	}
	var got []string
	for _, b := range *batches {
		got = append(got, b...)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages arrived in %d batches, want %d", len(got), len(*batches), len(msgs))
	}
	for i, m := range msgs {
		want, _ := json.Marshal(m)
		if got[i] != string(want) {
			t.Fatalf("message %d arrived out of order or changed", i)
		}
	}
}

// A message SQS would refuse, or one that cannot be encoded, sends nothing at all:
// before, the batches ahead of it were already on the queue when the call failed, and a
// retry of the whole call sent them twice.
func TestSQSSenderSendsNothingWhenAMessageCannotGo(t *testing.T) {
	for name, tc := range map[string]struct {
		bad     any
		wantErr string
	}{
		"over 1 MiB":   {bad: filler(1<<20 + 1), wantErr: "1048577 bytes"},
		"not encoding": {bad: make(chan int), wantErr: "encode message"},
	} {
		t.Run(name, func(t *testing.T) {
			api, batches := limitedQueue()
			s := &sqsSender{client: api, url: "https://sqs.example/q"}
			var msgs []any
			for i := range 11 {
				msgs = append(msgs, fmt.Sprint("small ", i))
			}
			msgs = append(msgs, tc.bad)
			err := s.SendJSON(context.Background(), msgs...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("SendJSON = %v, want an error naming %q", err, tc.wantErr)
			}
			if len(*batches) != 0 {
				t.Fatalf("%d batches were sent before the error", len(*batches))
			}
		})
	}
}
