package aliyun_test

import (
	"context"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
)

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestSendGate: the gate runs once per call, when the request is signed and
// its connection is open (a cold client dials first: the simulator has
// accepted the connection by then), and the request waits for it: a gate
// that holds the call 150 ms makes it arrive no earlier.
func TestSendGate(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ts := httptest.NewUnstartedServer(b.sim)
	ln := &countingListener{Listener: ts.Listener}
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	client, err := aliyun.New(aliyun.Config{Endpoint: ts.Listener.Addr().String(), Protocol: "http", RegionID: "cn-hangzhou",
		AccessKeyID: simAK, AccessKeySecret: simSecret})
	if err != nil {
		t.Fatal(err)
	}

	gates, connsAtGate := 0, int64(-1)
	var released time.Time
	ctx := aliyun.WithSendGate(context.Background(), func(context.Context) {
		gates++
		// The server's Accept may return a moment after the client's dial:
		// wait for it. A gate that ran before the dial would wait in vain,
		// for the request cannot connect until the gate returns.
		for deadline := time.Now().Add(2 * time.Second); ln.n.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		connsAtGate = ln.n.Load()
		time.Sleep(150 * time.Millisecond) // the gate holding the call is what is under test
		released = time.Now()
	})
	res, err := client.ReleaseInstanceConnection(ctx, devRelease())
	if err != nil {
		t.Fatal(err)
	}
	calls := b.sim.Calls()
	if gates != 1 || len(calls) != 1 || calls[0].RequestID != res.RequestId {
		t.Fatalf("gate ran %d times; simulator calls %+v", gates, calls)
	}
	if connsAtGate != 1 {
		t.Errorf("%d connections accepted when the gate ran, want 1: the gate runs once the connection is open", connsAtGate)
	}
	if calls[0].Time.Before(released) {
		t.Errorf("the call arrived at %s, before its gate let it go at %s", calls[0].Time, released)
	}

	// Without a gate nothing waits.
	if _, err := client.DescribeDBInstanceNetInfo(context.Background(), aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-bp1devexample01"}); err != nil {
		t.Fatal(err)
	}
	if gates != 1 {
		t.Errorf("gate ran %d times for a call without one", gates)
	}
}
