package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/app"
)

func TestRunSimServesUntilCancelled(t *testing.T) {
	t.Parallel()
	faults := filepath.Join(t.TempDir(), "faults.json")
	if err := os.WriteFile(faults, []byte(`[{"instance":"rm-bp1prodexample1","action":"ReleaseInstanceConnection","code":"Forbidden.RAM"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runSim(ctx, []string{
			"--addr", "127.0.0.1:0",
			"--state", filepath.Join("..", "..", "internal", "rdssim", "testdata", "instances.json"),
			"--access-key-id", "LTAIsimtest0000000000000", "--access-key-secret", "sim-test-secret",
			"--account-id", "9999999999999999", "--faults", faults,
		}, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output: %v", <-done)
	}
	first := lines.Text()
	addr, ok := strings.CutPrefix(first, "rdssim listening on http://")
	if !ok {
		t.Fatalf("first line %q", first)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // keep logs flowing

	client, err := aliyun.New(aliyun.Config{Endpoint: addr, Protocol: "http", Timeout: 5 * time.Second,
		AccessKeyID: "LTAIsimtest0000000000000", AccessKeySecret: "sim-test-secret"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.ReleaseInstanceConnection(ctx, aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId: "rm-bp1devexample01", CurrentConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com", InstanceNetworkType: "0",
	})
	if err != nil || res.RequestId == "" {
		t.Fatalf("release: %+v, %v", res, err)
	}
	_, err = client.ReleaseInstanceConnection(ctx, aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId: "rm-bp1prodexample1", CurrentConnectionString: "rm-bp1prodexample1.mysql.rds.aliyuncs.com", InstanceNetworkType: "0",
	})
	if e, ok := err.(*aliyun.APIError); !ok || e.Code != "Forbidden.RAM" {
		t.Fatalf("fault file not applied: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runSim after cancel: %v", err)
	}
}

func TestRunSimRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"all interfaces", []string{"--addr", ":9090"}, "only loopback"},
		{"public address", []string{"--addr", "0.0.0.0:9090"}, "only loopback"},
		{"missing state file", []string{"--addr", "127.0.0.1:0", "--state", "nope.json"}, "load instances"},
		{"bad fault file", []string{"--addr", "127.0.0.1:0", "--state", "", "--faults", "nope.json"}, "load faults"},
		{"unknown flag", []string{"--nope"}, "exit status 2"},
		{"negative quota window", []string{"--addr", "127.0.0.1:0", "--quota-window", "-1s"}, "negative quota window"},
		{"bad fleet spec", []string{"--addr", "127.0.0.1:0", "--generate", "accounts=0,regions=cn-hangzhou,per_region=1"}, "fleet spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			err := runSim(context.Background(), tt.args, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestRunSimGeneratesFleetAndServesTLS(t *testing.T) {
	t.Parallel()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runSim(ctx, []string{
			"--addr", "127.0.0.1:0", "--ca-out", caFile, "--account", "9999999999999999",
			"--generate", "accounts=3,regions=cn-hangzhou+cn-shanghai,per_region=4,roles=rdsgate-gateway",
		}, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output: %v", <-done)
	}
	addr, ok := strings.CutPrefix(lines.Text(), "rdssim listening on http://")
	if !ok {
		t.Fatalf("first line %q", lines.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("--ca-out wrote %q", pemBytes)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	res, err := client.Get("https://" + addr + "/_sim/instances?account=1000000000000002")
	if err != nil {
		t.Fatalf("TLS with the --ca-out CA: %v", err)
	}
	defer res.Body.Close()
	var st struct {
		Instances []struct {
			ID        string `json:"id"`
			AccountID string `json:"account_id"`
		} `json:"instances"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil || len(st.Instances) != 8 {
		t.Fatalf("account 2's instances: %v %+v", err, st)
	}
	for _, inst := range st.Instances {
		if inst.AccountID != "1000000000000002" || !strings.HasPrefix(inst.ID, "rm-") {
			t.Fatalf("instance %+v", inst)
		}
	}

	// The base key acts as --account, which owns none of the fleet.
	rds, err := aliyun.New(aliyun.Config{Endpoint: addr, Protocol: "http", Timeout: 5 * time.Second,
		AccessKeyID: app.SimAccessKeyID, AccessKeySecret: app.SimAccessKeySecret})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rds.DescribeDBInstanceAttribute(ctx, aliyun.DescribeDBInstanceAttributeRequest{DBInstanceId: st.Instances[0].ID})
	if e, ok := err.(*aliyun.APIError); !ok || e.Code != "InvalidDBInstanceId.NotFound" {
		t.Fatalf("fleet instance with the base key: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runSim after cancel: %v", err)
	}
}
