package main

import (
	"testing"
	"time"

	consensushandler "github.com/crowdgate/crowdgate/functions/consensus/handler"
	"github.com/crowdgate/crowdgate/shared/schedules"
	"github.com/crowdgate/crowdgate/shared/schema"
)

// The deployed queue consumers can be built: each has a grant and a sizing entry, and its
// timeout stays below its queue's visibility (checked without a synth).
func TestDeployedConsumersHaveGrantsAndFitTheirQueues(t *testing.T) {
	for _, name := range consumers {
		var q *schema.Queue
		for i := range schema.Queues {
			if schema.Queues[i].Name == name {
				q = &schema.Queues[i]
			}
		}
		if q == nil {
			t.Fatalf("consumer of unknown queue %q", name)
		}
		if _, ok := grants[q.Consumer]; !ok {
			t.Errorf("%s: no grants entry", q.Consumer)
		}
		size, ok := sizes[q.Consumer]
		if !ok {
			t.Errorf("%s: no sizes entry", q.Consumer)
			continue
		}
		if size.Timeout != time.Duration(q.TimeoutSeconds)*time.Second {
			t.Errorf("%s: timeout %v, queue %s is sized for %ds", q.Consumer, size.Timeout, q.Name, q.TimeoutSeconds)
		}
	}
}

// The re-estimation schedule sends the message the consensus function understands.
func TestReestimationScheduleSendsTheConsensusFunctionsMessage(t *testing.T) {
	for _, sc := range schedules.Table {
		if sc.Name == "ReestimateConsensus" {
			if sc.Queue != schema.QueueAnswers || sc.Payload != consensushandler.ScheduleBody() {
				t.Errorf("schedule sends %s to %q, want %s to %q", sc.Payload, sc.Queue, consensushandler.ScheduleBody(), schema.QueueAnswers)
			}
			return
		}
	}
	t.Error("no ReestimateConsensus schedule")
}
