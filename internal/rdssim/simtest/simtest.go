// Package simtest serves an rdssim.Server for the tests of other packages:
// HTTP and TLS (the simulator's own CA) on one loopback port, as `rdsgate
// sim` and `make run` serve it.
package simtest

import (
	"io"
	"log"
	"net/http/httptest"
	"testing"

	"github.com/rdsgate/rdsgate/internal/rdssim"
)

// Start serves sim until the test ends and returns its host:port.
// Handshake failures (a client that does not trust the CA) are not
// logged: tests provoke them.
func Start(t testing.TB, sim *rdssim.Server) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(sim)
	ts.Listener = sim.Listener(ts.Listener)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}
