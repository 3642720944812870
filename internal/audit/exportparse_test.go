package audit

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// TestLineParserAgreesWithEncodingJSON: the fast path either declines a
// line or reads exactly what encoding/json reads.
func TestLineParserAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	enc := &jsonlEncoder{w: bufio.NewWriter(io.Discard)}
	var lines []string
	line := func(b []byte) { lines = append(lines, strings.TrimSuffix(string(b), "\n")) }
	for _, e := range []Event{
		{ID: 1, Seq: 1, Kind: "request.created", Actor: "alice", RequestID: uuid.NullUUID{UUID: uuid.New(), Valid: true},
			DBInstanceID: "rm-1", Payload: []byte(`{"a":[1,{"b":"}\""}],"c":null}`), PrevHash: genesis, Hash: genesis},
		{ID: 2, Seq: 2, Kind: "execution.failed", Actor: "rdsgate", ErrorCode: "Throttling", AlibabaRequestID: "ABC-1",
			Payload: []byte(`"just a string"`), PrevHash: genesis, Hash: genesis},
		{ID: 3, Seq: 3, Kind: "k", Actor: "quote\"d \\ and \n", Payload: []byte(`null`)},
		{ID: 4, Seq: 4, Kind: "k", Actor: "x", Payload: []byte(" {\"a\": 1}\n")},
		{ID: 5, Seq: 5, Kind: "k", Actor: "ünïcödé", Payload: []byte(`-12.5e3`)},
		{ID: 6, Seq: 6, Kind: "k", Actor: "x", Payload: []byte(`[true,false]`)},
	} {
		enc.event(&e)
		line(enc.buf)
	}
	cp := Checkpoint{Seq: 1, HeadSeq: 6, HeadHash: genesis, KeyID: "abcd", PrevSignature: noSignature, Signature: noSignature}
	enc.checkpoint(&cp)
	line(enc.buf)
	lines = append(lines,
		`{"type":"event","seq":7,"payload":{"a":1},"unknown":1}`,
		`{ "type" : "event" , "seq" : 8 , "payload" : { "a" : 1 } }`,
		`{"type":"event","seq":9,"payload":{"a":1}`,
		`{"type":"event","seq":"9"}`,
		`{"type":"event","payload":{"a":}}`,
		`{}`,
	)
	var p lineParser
	for _, l := range lines {
		var fast, slow exportLine
		ok := p.parse([]byte(l), &fast)
		err := json.Unmarshal([]byte(l), &slow)
		if !ok {
			continue
		}
		if err != nil {
			t.Errorf("fast path accepted a line encoding/json rejects (%v): %s", err, l)
			continue
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Errorf("line %s: (-encoding/json +fast):\n%s", l, diff)
		}
	}
}
