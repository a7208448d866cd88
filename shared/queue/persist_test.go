package queue

import (
	"errors"
	"slices"
	"testing"

	"github.com/crowdgate/crowdgate/shared/schema"
)

// A local stack stopped with messages waiting (a privacy request just approved, an export
// just asked for) finds them again after a restart, as SQS keeps them: in-flight ones
// visible again with their receive count, dead letters still dead, each delivered once.
func TestMessagesSurviveARestart(t *testing.T) {
	b, clock := newTestBroker(t)
	failUntilDead(t, b, clock, "dead")
	send(t, b, "in flight")
	if err := b.Settle(ctxT(t)); err != nil { // received once, failed, invisible for 60 s
		t.Fatal(err)
	}
	b.Close()
	send2, _ := b.Sender(testQueue.Name)
	if err := send2.SendJSON(ctxT(t), "after close"); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	data, err := b.Save()
	if err != nil {
		t.Fatal(err)
	}

	next, _ := newTestBroker(t)
	next.Declare(schema.Queue{Name: "exports", MaxReceives: 3, VisibilitySeconds: 900})
	restored, dropped, err := next.Restore(data)
	if err != nil || restored != 2 || dropped != 0 {
		t.Fatalf("restore: %d restored, %d dropped, %v", restored, dropped, err)
	}
	wantStats(t, next, 1, 0, 1)
	ok := &recorder{}
	next.Subscribe(testQueue.Name, ok.handle, 10)
	if err := next.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	got := ok.all()
	if len(got) != 1 || !slices.Equal(bodies(got[0]), []string{`"in flight"`}) || got[0][0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after the restart: %+v", got)
	}
	if dead := next.DeadLetters(testQueue.Name); len(dead) != 1 || dead[0].Body != `"dead"` {
		t.Fatalf("dead letters after the restart: %+v", dead)
	}

	// A queue that is no longer declared drops its messages, and says so.
	other := NewBroker(quietLog())
	t.Cleanup(other.Close)
	if restored, dropped, err := other.Restore(data); err != nil || restored != 0 || dropped != 2 {
		t.Fatalf("restore into a broker without the queue: %d, %d, %v", restored, dropped, err)
	}
	if _, _, err := other.Restore([]byte(`{"v":9}`)); err == nil {
		t.Fatal("restored another version")
	}
}
