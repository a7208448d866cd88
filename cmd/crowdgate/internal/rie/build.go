package rie

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Module is the module path whose go.mod Root looks for.
const Module = "github.com/crowdgate/crowdgate"

// BuildFlags are the `go build` flags of `make build` (checked against the Makefile by a
// test): a static binary without the RPC runtime, reproducible paths, no symbol tables.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// HostArch is the GOARCH of this machine, which aws-lambda-rie runs binaries for.
func HostArch() string { return runtime.GOARCH }

// Root returns the module root at or above dir (the folder whose go.mod declares Module).
func Root(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("rie: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(b, Module) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("rie: no go.mod of %s at or above the working directory", Module)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, module string) bool {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == module
		}
	}
	return false
}

// Functions lists the Lambda functions of the module at root: every folder under
// functions/ with a main.go, sorted.
func Functions(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, fmt.Errorf("rie: list functions: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if fi, err := os.Stat(filepath.Join(root, "functions", e.Name(), "main.go")); err == nil && !fi.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Events lists the sample events of a function, every .json file under root/events/<fn>,
// subfolders (events/admin/customers/…) included, sorted by path. A function without an
// events folder has none.
func Events(root, fn string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "events", fn), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rie: list events: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// Build builds the bootstraps of fns (names under root/functions) for linux/goarch with
// `make build`'s flags in one `go build` and returns each function's binary,
// outDir/<fn>/bootstrap.
func Build(ctx context.Context, root, goarch, outDir string, fns ...string) (map[string]string, error) {
	if len(fns) == 0 {
		return nil, errors.New("rie: build: no functions")
	}
	stage := filepath.Join(outDir, ".go-build-out")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, fmt.Errorf("rie: build: %w", err)
	}
	args := append([]string{"build"}, BuildFlags...)
	// With -o naming a folder, go build writes each main package there under its folder's
	// name; a single package needs the binary's name.
	target := stage + string(filepath.Separator)
	if len(fns) == 1 {
		target = filepath.Join(stage, fns[0])
	}
	args = append(args, "-o", target)
	for _, fn := range fns {
		args = append(args, "./functions/"+fn)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rie: go build (GOARCH=%s) %s: %w\n%s", goarch, strings.Join(fns, " "), err, out)
	}
	bins := map[string]string{}
	for _, fn := range fns {
		dst := filepath.Join(outDir, fn, "bootstrap")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("rie: build: %w", err)
		}
		if err := os.Rename(filepath.Join(stage, fn), dst); err != nil {
			return nil, fmt.Errorf("rie: build %s: %w", fn, err)
		}
		bins[fn] = dst
	}
	_ = os.Remove(stage)
	return bins, nil
}
