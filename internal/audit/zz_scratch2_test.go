package audit

import (
	"os"
	"testing"
	"time"
)

func TestZZScratchOffline(t *testing.T) {
	fn := os.Getenv("SCRATCH_FILE")
	if fn == "" {
		return
	}
	f, _ := os.Open(fn)
	defer f.Close()
	st := time.Now()
	rep, err := VerifyStream(f, VerifyOptions{})
	t.Logf("%d in %v %v", rep.Checked, time.Since(st), err)
}
