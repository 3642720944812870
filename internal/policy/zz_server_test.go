package policy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/runtime"
)

func TestZZServerFloor(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.rego"), []byte("package x\nd := {\"allow\": input.a == 1}\n"), 0o600)
	params := runtime.NewParams()
	params.Addrs = &[]string{"127.0.0.1:0"}
	params.Paths = []string{dir}
	params.Logger = logging.NewNoOpLogger()
	params.ConsoleLogger = logging.NewNoOpLogger()
	params.EnableVersionCheck = false
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt, err := runtime.NewRuntime(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	go rt.Serve(ctx)
	<-rt.Manager.ServerInitializedChannel()
	var addrs []string
	for len(addrs) == 0 {
		time.Sleep(5 * time.Millisecond)
		addrs = rt.Addrs()
	}
	url := "http://" + addrs[0] + "/v1/data/x/d"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	body := []byte(`{"input":{"principal":{"subject":"user00001","groups":null},"request":{"region_id":"cn-hangzhou","db_instance_id":"rm-u00001-app","connection_string":"x","network_type":"0","justification":"moving the application to the VPC endpoint","ticket":"OPS-42"},"context":{"source_ip":"10.1.2.3","current_time":"2026-11-26T09:00:00Z","secure_transport":true,"mfa_present":false},"pending_requests":1}}`)
	var d []time.Duration
	for i := 0; i < 6000; i++ {
		s := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i >= 1000 {
			d = append(d, time.Since(s))
		}
	}
	slices.Sort(d)
	t.Logf("server floor p50 %v p99 %v", d[len(d)/2], d[len(d)*99/100])
}
