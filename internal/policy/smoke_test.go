package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/policies"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "carol", "mallory", "zed"} {
		for _, inst := range []string{"rm-bp1devexample01", "rm-bp1prodexample1", "rm-bp1demo00000021"} {
			d, err := e.Decide(ctx, Input{Principal: Principal{Subject: u}, Request: RequestInput{RegionID: "cn-hangzhou", DBInstanceID: inst, Justification: "long enough text", Ticket: "OPS-1"}, Context: Context{CurrentTime: time.Now()}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(d)
			fmt.Println(string(b))
		}
	}
	r, err := RunRegoTests(ctx, policies.FS)
	fmt.Println(r, err)
}
