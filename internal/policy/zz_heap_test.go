package policy

import (
	"context"
	"runtime"
	"testing"
)

func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / 1e6
}

func TestZZHeap(t *testing.T) {
	base := heapMB()
	e := newBenchEngine(t)
	built := heapMB()
	inputs := benchInputs(20000)
	for _, in := range inputs {
		e.Decide(context.Background(), in)
	}
	warmed := heapMB()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	t.Logf("base %.1f MB, engine +%.1f MB, after 20k decisions +%.1f MB; objects %d", base, built-base, warmed-built, m.HeapObjects)
	runtime.KeepAlive(e)
}
