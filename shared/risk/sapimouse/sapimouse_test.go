package sapimouse_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/crowdgate/crowdgate/shared/risk"
	"github.com/crowdgate/crowdgate/shared/risk/sapimouse"
)

const sample = `client timestamp,button,state,x,y
1000,NoButton,Move,10,20
1017,NoButton,Move,15,22
1200,Left,Pressed,15,22
1210,Left,Drag,16,23
1300,Left,Released,16,23
`

// fakeShared lays out <dir>/datasets/mouse/sapimouse/<user>/session_1min.csv.
func fakeShared(t *testing.T, user, content string) string {
	t.Helper()
	shared := t.TempDir()
	d := filepath.Join(shared, "datasets", "mouse", "sapimouse", user)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "session_1min.csv"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return shared
}

func TestLoadReadsRecordings(t *testing.T) {
	shared := fakeShared(t, "user35.2", sample)
	t.Setenv(sapimouse.EnvShared, shared)
	dir, err := sapimouse.Locate()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := sapimouse.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].User != "user35" || recs[0].Session != "user35.2/session_1min" {
		t.Fatalf("recordings = %+v", recs)
	}
	want := []risk.PointerEvent{
		{T: 0, X: 10, Y: 20, Kind: risk.Move},
		{T: 17, X: 15, Y: 22, Kind: risk.Move},
		{T: 200, X: 15, Y: 22, Kind: risk.Down},
		{T: 210, X: 16, Y: 23, Kind: risk.Move},
		{T: 300, X: 16, Y: 23, Kind: risk.Up},
	}
	got := recs[0].Events
	if len(got) != len(want) {
		t.Fatalf("events = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	shared := fakeShared(t, "user1", "client timestamp,button,state,x,y\n10,NoButton,Hover,1,2\n")
	if _, err := sapimouse.Load(filepath.Join(shared, "datasets", "mouse", "sapimouse")); err == nil {
		t.Error("unknown state accepted")
	}
	if _, err := sapimouse.Load(t.TempDir()); !errors.Is(err, sapimouse.ErrNotFound) {
		t.Errorf("empty directory: %v, want ErrNotFound", err)
	}
}

func TestLocateSaysWhereItLooked(t *testing.T) {
	t.Setenv(sapimouse.EnvShared, t.TempDir())
	_, err := sapimouse.Locate()
	if !errors.Is(err, sapimouse.ErrNotFound) {
		t.Fatalf("Locate = %v, want ErrNotFound", err)
	}
}
