package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
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
