// Package sapimouse reads the SapiMouse human mouse recordings (M. Antal et al., SACI
// 2021) that the risk model is trained and evaluated on. The data is not part of the
// repository: it lives next to it, in ../shared/datasets/mouse/sapimouse.
package sapimouse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/crowdgate/crowdgate/shared/risk"
)

// EnvShared names the directory that holds the shared datasets ("datasets/mouse/…"
// below it); without it Locate walks up from the working directory.
const EnvShared = "CROWDGATE_SHARED"

// relDir is where the recordings sit below the shared directory.
var relDir = filepath.Join("datasets", "mouse", "sapimouse")

// ErrNotFound means the dataset is not on this machine.
var ErrNotFound = errors.New("sapimouse dataset not found")

// Locate returns the dataset directory: $CROWDGATE_SHARED/datasets/mouse/sapimouse, or
// the first <ancestor>/shared/datasets/mouse/sapimouse walking up from the working
// directory (the repository's sibling ../shared).
func Locate() (string, error) {
	if s := os.Getenv(EnvShared); s != "" {
		d := filepath.Join(s, relDir)
		if isDir(d) {
			return d, nil
		}
		return "", fmt.Errorf("%w: %s=%s has no %s", ErrNotFound, EnvShared, s, relDir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	for dir := wd; ; {
		d := filepath.Join(dir, "shared", relDir)
		if isDir(d) {
			return d, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no shared/%s above %s (set %s)", ErrNotFound, relDir, wd, EnvShared)
		}
		dir = parent
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Recording is one session file of one user.
type Recording struct {
	User    string // person: "user35" for both user35.1 and user35.2
	Session string // e.g. "user35.1/session_3min"
	Events  []risk.PointerEvent
}

// UserOf maps a directory name to the person it records (user35.1 → user35).
func UserOf(dir string) string {
	if i := strings.IndexByte(dir, '.'); i > 0 {
		return dir[:i]
	}
	return dir
}

// Load reads every user*/session_*.csv below dir, ordered by user and session.
func Load(dir string) ([]Recording, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.csv"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no */*.csv in %s", ErrNotFound, dir)
	}
	sort.Strings(files)
	out := make([]Recording, 0, len(files))
	for _, f := range files {
		r, err := LoadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// LoadFile reads one session CSV ("client timestamp,button,state,x,y"). Move and Drag
// become pointer moves, Pressed/Released become down/up; times start at 0.
func LoadFile(path string) (Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return Recording{}, fmt.Errorf("open recording: %w", err)
	}
	defer f.Close()
	userDir := filepath.Base(filepath.Dir(path))
	rec := Recording{
		User:    UserOf(userDir),
		Session: userDir + "/" + strings.TrimSuffix(filepath.Base(path), ".csv"),
	}
	rec.Events, err = parse(f)
	if err != nil {
		return Recording{}, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}

func parse(r io.Reader) ([]risk.PointerEvent, error) {
	sc := bufio.NewScanner(r)
	var out []risk.PointerEvent
	t0 := -1.0
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if line == 1 && strings.HasPrefix(s, "client timestamp") {
			continue
		}
		parts := strings.Split(s, ",")
		if len(parts) != 5 {
			return nil, fmt.Errorf("line %d: want 5 fields, got %d", line, len(parts))
		}
		ts, err1 := strconv.ParseFloat(parts[0], 64)
		x, err2 := strconv.ParseFloat(parts[3], 64)
		y, err3 := strconv.ParseFloat(parts[4], 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		var kind risk.EventKind
		switch parts[2] {
		case "Move", "Drag":
			kind = risk.Move
		case "Pressed":
			kind = risk.Down
		case "Released":
			kind = risk.Up
		default:
			return nil, fmt.Errorf("line %d: unknown state %q", line, parts[2])
		}
		if t0 < 0 {
			t0 = ts
		}
		out = append(out, risk.PointerEvent{T: ts - t0, X: x, Y: y, Kind: kind})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return out, nil
}
