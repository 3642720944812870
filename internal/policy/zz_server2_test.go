package policy

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestZZServerFloor2(t *testing.T) {
	url := "http://127.0.0.1:18181/v1/data/x/d"
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
	t.Logf("standalone server floor p50 %v p99 %v", d[len(d)/2], d[len(d)*99/100])
}
