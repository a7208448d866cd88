package rie_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/cmd/crowdgate/internal/rie"
)

// BenchmarkColdStart reports, per function, what a cold start costs:
//
//	arm64-MB         size of the arm64 bootstrap built like `make build` (Lambda's download)
//	init-ms          init duration under aws-lambda-rie (process start → runtime ready)
//	first-invoke-ms  wall clock of the first invoke on a fresh emulator (includes init)
//	warm-invoke-ms   the same event again on the now-warm function
//	cold-cpu-ms      CPU time the function process used for init and the first invoke
//	                 (hardly affected by machine load, unlike the wall-clock figures)
//
// BenchmarkColdStart/baseline runs testdata/echo, a Go Lambda that does nothing: the cost
// of the emulator, exec and the Go runtime on this machine, which the functions' figures
// include. Timings swing with machine load; compare against the baseline of the same run.
//
// Each iteration starts a fresh emulator with the host-arch bootstrap and replays the
// function's first events/ file against DynamoDB Local, so run it where `make test` runs:
//
//	unshare -rn sh -c 'ip link set lo up && CROWDGATE_ISOLATED_NET=1 \
//	  go test -run "^$" -bench ColdStart ./cmd/crowdgate/internal/rie/'
//
// Targets: every bootstrap < 15 MB (asserted by TestArm64BootstrapsStayUnder15MB) and
// init < 50 ms (reported here; timings are not asserted).
func BenchmarkColdStart(b *testing.B) {
	needRIE(b)
	root := moduleRoot(b)
	be := newBackends(b)
	fns, err := rie.Functions(root)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	b.Run("baseline", func(b *testing.B) {
		bin := buildEcho(b)
		var initSum, firstSum, cpuSum time.Duration
		runs := 0
		for b.Loop() {
			runs++
			em, err := rie.Start(ctx, bin, rie.Options{})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := em.Invoke(ctx, []byte(`{}`)); err != nil {
				em.Close()
				b.Fatal(err)
			}
			firstSum += time.Since(start)
			cpuSum += functionCPU(b, em)
			initSum += em.Timings().Init
			em.Close()
		}
		b.ReportMetric(float64(initSum.Microseconds())/1e3/float64(runs), "init-ms")
		b.ReportMetric(float64(firstSum.Microseconds())/1e3/float64(runs), "first-invoke-ms")
		b.ReportMetric(float64(cpuSum.Microseconds())/1e3/float64(runs), "cold-cpu-ms")
	})
	for _, fn := range fns {
		b.Run(fn, func(b *testing.B) {
			files, err := rie.Events(root, fn)
			if err != nil || len(files) == 0 {
				b.Skipf("functions/%s has no events to invoke", fn)
			}
			event, err := os.ReadFile(files[0])
			if err != nil {
				b.Fatal(err)
			}
			first := sample{name: filepath.Base(files[0]), body: event}
			_ = json.Unmarshal(event, &first.rotation)
			// Built per function, so one that does not build fails only its own line.
			host, err := rie.Build(ctx, root, rie.HostArch(), filepath.Join(dir, "host"), fn)
			if err != nil {
				b.Fatal(err)
			}
			arm, err := rie.Build(ctx, root, "arm64", filepath.Join(dir, "arm64"), fn)
			if err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(arm[fn])
			if err != nil {
				b.Fatal(err)
			}
			keys := newSecrets(b)
			keys.signingARN = signingSecretOf([]sample{first})
			w := be.resources(b, keys)
			if r := first.rotation; r.Step == "createSecret" {
				w.secrets.stagePending(r.SecretID, r.ClientRequestToken)
			}
			env := w.Env()
			var initSum, firstSum, warmSum, cpuSum time.Duration
			runs := 0
			for b.Loop() {
				runs++
				em, err := rie.Start(ctx, host[fn], rie.Options{Env: env, Name: fn})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := em.Invoke(ctx, event); err != nil {
					em.Close()
					b.Fatalf("%s: %v", filepath.Base(files[0]), err)
				}
				firstSum += time.Since(start)
				cpuSum += functionCPU(b, em)
				start = time.Now()
				if _, err := em.Invoke(ctx, event); err != nil {
					em.Close()
					b.Fatal(err)
				}
				warmSum += time.Since(start)
				initSum += em.Timings().Init
				em.Close()
			}
			n := float64(runs)
			b.ReportMetric(float64(fi.Size())/1e6, "arm64-MB")
			b.ReportMetric(float64(initSum.Microseconds())/1e3/n, "init-ms")
			b.ReportMetric(float64(firstSum.Microseconds())/1e3/n, "first-invoke-ms")
			b.ReportMetric(float64(warmSum.Microseconds())/1e3/n, "warm-invoke-ms")
			b.ReportMetric(float64(cpuSum.Microseconds())/1e3/n, "cold-cpu-ms")
		})
	}
}

func functionCPU(b *testing.B, em *rie.Emulator) time.Duration {
	b.Helper()
	d, err := em.FunctionCPU()
	if err != nil {
		b.Fatal(err)
	}
	return d
}
