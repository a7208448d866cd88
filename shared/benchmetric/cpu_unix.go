//go:build unix

// Package benchmetric adds metrics to Go benchmarks.
package benchmetric

import (
	"syscall"
	"testing"
)

// CPU starts counting the process's CPU time; the returned func reports it per operation
// as cpu-ns/op next to ns/op. On a shared, busy machine wall time says more about the
// neighbours than about the code.
func CPU(b *testing.B) func() {
	start := cpuNow()
	return func() {
		b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuNow() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
