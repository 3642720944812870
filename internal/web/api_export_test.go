package web_test

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/audit"
)

// The JSON Lines export of the whole trail holds the events and the signed
// checkpoints and verifies offline with the public key; from_seq resumes
// it; a filtered export holds the matching events only.
func TestAPIAuditExportJSONL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, err := audit.GenerateKeyFile(filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	env := setupAPIWith(t, func(c *app.Config) { c.AuditSigningKey = filepath.Join(dir, "audit.key") })
	if status, out := env.call(t, "alice", "POST", "/api/v1/requests", validBody()); status != 201 {
		t.Fatalf("create: %d %v", status, out)
	}
	// Seal what is committed (waiting for the app's own sealer, if it
	// holds the lock) and sign the head.
	ctx := t.Context()
	if _, err := audit.NewSealer(env.pool, nil, 0).Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := audit.NewCheckpointer(env.pool, nil, key, filepath.Join(dir, "checkpoints"), 0).Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	export := func(query string) (string, []map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env.url+"/api/v1/audit/export"+query, nil)
		req.Header.Set("Authorization", "Bearer "+env.tokens["dave"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("export%s: %d %q\n%s", query, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		}
		var lines []map[string]any
		sc := bufio.NewScanner(strings.NewReader(string(raw)))
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("export%s: line %d: %v", query, len(lines)+1, err)
			}
			lines = append(lines, l)
		}
		return string(raw), lines
	}
	raw, whole := export("")
	types := map[any]int{}
	for _, l := range whole {
		types[l["type"]]++
	}
	if types["event"] < 2 || types["checkpoint"] != 1 || len(types) != 2 {
		t.Fatalf("whole trail: %v", types)
	}
	rep, err := audit.VerifyStream(strings.NewReader(raw), audit.VerifyOptions{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if err != nil || !rep.Complete() {
		t.Fatalf("the export does not verify: %+v %v", rep, err)
	}
	// The export itself is audited: the trail may have grown since.
	_, resumed := export("?format=jsonl&from_seq=2")
	seqs := func(lines []map[string]any) map[float64]bool {
		out := map[float64]bool{}
		for _, l := range lines {
			if l["type"] == "event" {
				out[l["seq"].(float64)] = true
			}
		}
		return out
	}
	got := seqs(resumed)
	if len(resumed) == 0 || resumed[0]["seq"] != float64(2) || got[1] {
		t.Fatalf("from_seq=2: %d lines, the first %v: want the trail from seq 2", len(resumed), resumed)
	}
	for seq := range seqs(whole) {
		if seq >= 2 && !got[seq] {
			t.Errorf("from_seq=2: event %v of the whole trail is missing", seq)
		}
	}
	_, filtered := export("?kind=request.created")
	if len(filtered) != 1 || filtered[0]["type"] != "event" || filtered[0]["kind"] != "request.created" {
		t.Fatalf("kind=request.created: %v", filtered)
	}
}
