package main

import (
	"runtime/debug"
	"testing"
)

// serve raises the collector's target unless GOGC is set, which the runtime
// has then applied and rdsgate leaves alone.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Fatalf("GC percent with GOGC unset: %d, want %d", got, serveGCPercent)
	}
	tuneGC(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent with GOGC set: %d, want it untouched (100)", got)
	}
}
