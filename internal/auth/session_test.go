package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/rdsgate/rdsgate/internal/testdb"
	"github.com/rdsgate/rdsgate/migrations"
)

// sessionServer serves /signin (signs in "alice"), /me (the signed-in
// subject, or 401) and /signout through Sessions.LoadAndSave.
func sessionServer(t *testing.T, s *Sessions) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/signin", func(w http.ResponseWriter, r *http.Request) {
		if err := s.SignIn(r.Context(), User{Subject: "alice", Groups: []string{"developers"}, Roles: []Role{RoleRequester},
			Method: MethodDev, SignedInAt: time.Now()}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.User(r.Context())
		if !ok {
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, u.Subject)
	})
	mux.HandleFunc("/signout", func(w http.ResponseWriter, r *http.Request) {
		if err := s.SignOut(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "bye")
	})
	srv := httptest.NewServer(s.LoadAndSave(mux))
	t.Cleanup(srv.Close)
	return srv
}

// get requests path with the session cookie set to token (none if empty)
// and returns the status, the body and the session cookie the response set.
func get(t *testing.T, srv *httptest.Server, path, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: token})
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	set := ""
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			set = c.Value
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), set
}

type sessionRow struct {
	token string
	data  []byte
}

func sessionRows(t *testing.T, pool *pgxpool.Pool) []sessionRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT token, data FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sessionRow
	for rows.Next() {
		var r sessionRow
		if err := rows.Scan(&r.token, &r.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSessionTokenNotStoredInClear: after sign-in the sessions table holds
// the SHA-256 of the cookie's token and nowhere the token itself; the
// session still works with the cookie, not with the stored value, and
// sign-out deletes the row.
func TestSessionTokenNotStoredInClear(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s := NewSessions(pool, SessionOptions{CleanupInterval: -1})
	t.Cleanup(s.Close)
	srv := sessionServer(t, s)

	st, _, token := get(t, srv, "/signin", "")
	if st != http.StatusOK || len(token) < 32 {
		t.Fatalf("sign in: %d, cookie token %q", st, token)
	}
	sum := sha256.Sum256([]byte(token))
	wantHash := hex.EncodeToString(sum[:])
	if got := SessionTokenHash(token); got != wantHash {
		t.Fatalf("SessionTokenHash = %s, want %s", got, wantHash)
	}

	rows := sessionRows(t, pool)
	if len(rows) != 1 {
		t.Fatalf("%d session rows, want 1", len(rows))
	}
	if rows[0].token == token {
		t.Fatal("the sessions table holds the session token in clear")
	}
	if rows[0].token != wantHash {
		t.Errorf("sessions.token = %q, want the SHA-256 hex of the cookie token %q", rows[0].token, wantHash)
	}
	if bytes.Contains(rows[0].data, []byte(token)) {
		t.Error("the session data contains the session token")
	}
	var n int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM sessions WHERE position($1 in token) > 0 OR position(convert_to($1, 'UTF8') in data) > 0`, token).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows containing the raw token: %d %v", n, err)
	}

	if st, body, _ := get(t, srv, "/me", token); st != http.StatusOK || body != "alice" {
		t.Errorf("the session does not work with its cookie: %d %q", st, body)
	}
	// Someone who read the table has only the hash; as a cookie it is worthless.
	if st, _, _ := get(t, srv, "/me", wantHash); st != http.StatusUnauthorized {
		t.Errorf("the stored hash works as a session cookie: %d", st)
	}

	if st, _, _ := get(t, srv, "/signout", token); st != http.StatusOK {
		t.Fatalf("sign out: %d", st)
	}
	if rows := sessionRows(t, pool); len(rows) != 0 {
		t.Errorf("%d session rows after sign-out, want 0", len(rows))
	}
	if st, _, _ := get(t, srv, "/me", token); st != http.StatusUnauthorized {
		t.Errorf("the token works after sign-out: %d", st)
	}
}

// TestSessionsTableRefusesClearTokens: the migration's check constraint
// refuses a row whose token is not a SHA-256 hex digest, so a store that
// forgot to hash would fail loudly instead of leaking.
func TestSessionsTableRefusesClearTokens(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	const raw = "dGhpcyBpcyBhIHJhdyBzZXNzaW9uIHRva2VuIGluIGNs" // shaped like an scs token
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, '\x00', now() + interval '1 hour')`, raw); err == nil ||
		!strings.Contains(err.Error(), "sessions_token_is_sha256") {
		t.Errorf("a clear token was stored: %v", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, '\x00', now() + interval '1 hour')`,
		SessionTokenHash(raw)); err != nil {
		t.Errorf("a hashed token was refused: %v", err)
	}
}

// TestSessionsHashMigration: migrating to 00006 deletes the sessions written
// with clear tokens by earlier versions (their users sign in again), and
// its Down lets those versions run again.
func TestSessionsHashMigration(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	const raw = "dGhpcyBpcyBhIHJhdyBzZXNzaW9uIHRva2VuIGluIGNs"
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, '\x00', now() + interval '1 hour')`, raw); err != nil {
		t.Fatalf("before 00006 a clear token is accepted: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if rows := sessionRows(t, pool); len(rows) != 0 {
		t.Errorf("%d sessions with clear tokens survive the migration", len(rows))
	}
}

// TestSessionCleanup: the clean-up loop deletes expired sessions and keeps
// live ones, and Close stops it at once, even right after the start (the
// case pgxstore's own loop raced on), as often as it is called.
func TestSessionCleanup(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES
($1, '\x00', now() - interval '1 minute'), ($2, '\x00', now() + interval '1 hour')`,
		SessionTokenHash("expired"), SessionTokenHash("live")); err != nil {
		t.Fatal(err)
	}
	NewSessions(pool, SessionOptions{CleanupInterval: time.Hour}).Close()

	s := NewSessions(pool, SessionOptions{CleanupInterval: 10 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		rows, err := pool.Query(ctx, `SELECT token FROM sessions ORDER BY token`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tok string
			if err := rows.Scan(&tok); err != nil {
				t.Fatal(err)
			}
			left = append(left, tok)
		}
		if len(left) == 1 && left[0] == SessionTokenHash("live") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions left after clean-up: %v, want only the live one", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	s.Close() // a second Close is harmless
}
