package rie_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/rie"
)

// MaxBootstrapBytes is the size budget of one arm64 bootstrap: 15 MB (decimal, the stricter
// reading).
const MaxBootstrapBytes = 15_000_000

func TestFunctionsFindsEveryFolderWithAMain(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"functions/verify/main.go", "functions/consensus/main.go", "functions/shared/x.go", "functions/README.md"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("package main\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := rie.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"consensus", "verify"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Functions = %v, want %v", got, want)
	}

	// The real tree: the functions main.go files exist for.
	real, err := rie.Functions(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range real {
		if _, err := os.Stat(filepath.Join(moduleRoot(t), "functions", fn, "main.go")); err != nil {
			t.Errorf("%s listed without a main.go", fn)
		}
	}
}

func TestRootFindsTheModuleNotAnotherGoMod(t *testing.T) {
	root := moduleRoot(t)
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.Contains(string(b), "module "+rie.Module) {
		t.Fatalf("Root = %s, whose go.mod is not %s", root, rie.Module)
	}
	// node_modules has a go.mod of its own (module crowdgate.invalid/node_modules).
	if nm := filepath.Join(root, "node_modules"); dirExists(nm) {
		if got, err := rie.Root(nm); err != nil || got != root {
			t.Errorf("Root(node_modules) = %q, %v; want %q", got, err, root)
		}
	}
	if _, err := rie.Root(t.TempDir()); err == nil {
		t.Error("Root found a module above a temporary folder")
	}
}

func dirExists(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }

// The test binaries are the ones `make build` ships: the go build flags between "build" and
// "-o" in the Makefile's build recipe are exactly BuildFlags, with CGO_ENABLED=0.
func TestBuildFlagsAreMakeBuilds(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(moduleRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	recipe := makeRecipe(string(mk), "build")
	if recipe == "" {
		t.Fatal("Makefile has no build target")
	}
	words := shellWords(recipe)
	start := indexOf(words, "build")
	end := indexOf(words, "-o")
	if start < 0 || end < start {
		t.Fatalf("no `go build … -o` in the build recipe: %q", recipe)
	}
	if got := words[start+1 : end]; !reflect.DeepEqual(got, rie.BuildFlags) {
		t.Errorf("make build uses %q, rie.BuildFlags is %q", got, rie.BuildFlags)
	}
	if indexOf(words[:start], "CGO_ENABLED=0") < 0 {
		t.Errorf("make build does not set CGO_ENABLED=0: %q", recipe)
	}
}

// makeRecipe returns a target's recipe with line continuations joined.
func makeRecipe(makefile, target string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(makefile, "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			b.WriteString(strings.TrimSuffix(strings.TrimSpace(line), "\\"))
			b.WriteString(" ")
		case in:
			return b.String()
		}
	}
	return b.String()
}

// shellWords splits a command line the way sh does for the quoting Makefiles use.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == ';':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func indexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}

// Every bootstrap, built for arm64 (Lambda's architecture here) as `make build` builds it,
// stays under the 15 MB budget: size drives cold-start download and init time.
func TestArm64BootstrapsStayUnder15MB(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles every function; skipped with -short")
	}
	root := moduleRoot(t)
	fns, err := rie.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bins, err := rie.Build(ctx, root, "arm64", t.TempDir(), fns...)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		fi, err := os.Stat(bins[fn])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-14s arm64 bootstrap %6.2f MB", fn, float64(fi.Size())/1e6)
		if fi.Size() >= MaxBootstrapBytes {
			t.Errorf("functions/%s: arm64 bootstrap is %d bytes, over the %d budget", fn, fi.Size(), MaxBootstrapBytes)
		}
		if !isELF(t, bins[fn], 0xB7) { // EM_AARCH64
			t.Errorf("functions/%s: bootstrap is not a linux/arm64 ELF binary", fn)
		}
	}
}

// isELF reports whether path is an ELF executable for machine (e_machine).
func isELF(t *testing.T, path string, machine uint16) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(b) > 20 && string(b[:4]) == "\x7fELF" && uint16(b[18])|uint16(b[19])<<8 == machine
}
