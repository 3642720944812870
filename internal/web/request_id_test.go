package web_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/web"
)

// A client's X-Request-ID is taken when it is short printable ASCII without
// spaces, and replaced by a generated id otherwise (the header is the
// client's to choose and lands in logs and the audit trail). Either way the
// id is answered in X-Request-ID and is on the request's log lines.
func TestRequestIDHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		keep     bool
	}{
		{"uuid", "0193b7b0-0000-7000-8000-000000000001", true},
		{"punctuation", "Root=1-5759e988;Parent=53995c3f:x/y+z", true},
		{"longest", strings.Repeat("a", 128), true},
		{"absent", "", false},
		{"too long", strings.Repeat("a", 129), false},
		{"newline", "abc\nlevel=ERROR msg=forged", false},
		{"carriage return", "abc\rdef", false},
		{"tab", "abc\tdef", false},
		{"escape", "abc\x1b[31mdef", false},
		{"nul", "abc\x00def", false},
		{"space", "abc def", false},
		{"non-ASCII", "abcé", false},
		{"DEL", "abc\x7f", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			s := web.New(web.Deps{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			if tc.in != "" {
				req.Header.Set("X-Request-ID", tc.in)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-ID")
			switch {
			case tc.keep && got != tc.in:
				t.Fatalf("X-Request-ID %q answered as %q, want it kept", tc.in, got)
			case !tc.keep && (got == tc.in || len(got) < 20 || strings.ContainsAny(got, " \t\r\n")):
				t.Fatalf("X-Request-ID %q answered as %q, want a generated id", tc.in, got)
			}
			lines := 0
			for sc := bufio.NewScanner(&logs); sc.Scan(); lines++ {
				var line map[string]any
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("log line %q: %v", sc.Text(), err)
				}
				if line["http_request_id"] != got {
					t.Errorf("log line %s: want http_request_id %q", sc.Text(), got)
				}
			}
			if lines == 0 {
				t.Fatal("no log line for the request")
			}
		})
	}
	// Generated ids differ.
	s := web.New(web.Deps{})
	ids := map[string]bool{}
	for range 3 {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		ids[rec.Header().Get("X-Request-ID")] = true
	}
	if len(ids) != 3 {
		t.Fatalf("generated ids %v: want 3 different", ids)
	}
}
