package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

func TestTokensCacheAndRevocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	tok, err := auth.CreateToken(ctx, pool, auth.Identity{Subject: "alice", Groups: []string{"developers"}}, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	// short caches for a nanosecond: its entry has expired by its next call.
	cached, short, uncached := auth.NewTokens(pool, time.Hour), auth.NewTokens(pool, time.Nanosecond), &auth.Tokens{Pool: pool}
	for _, a := range []interface {
		FromHeader(context.Context, string) (auth.Identity, error)
	}{cached, short, uncached} {
		id, err := a.FromHeader(ctx, "Bearer "+tok)
		if err != nil || id.Subject != "alice" {
			t.Fatalf("valid token: %+v %v", id, err)
		}
		for _, h := range []string{"", "Bearer", "Basic " + tok, "Bearer rdsg_wrong"} {
			if _, err := a.FromHeader(ctx, h); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("%q: %v", h, err)
			}
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = now()`); err != nil {
		t.Fatal(err)
	}
	// Revocation takes effect at once without a cache, and within the TTL
	// with one (here an hour: still served from memory).
	if _, err := uncached.FromHeader(ctx, "Bearer "+tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("revoked token accepted without a cache: %v", err)
	}
	if id, err := cached.FromHeader(ctx, "Bearer "+tok); err != nil || id.Subject != "alice" {
		t.Errorf("cached identity: %+v %v", id, err)
	}
	if _, err := short.FromHeader(ctx, "Bearer "+tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("revoked token accepted past the TTL: %v", err)
	}
}

// Tokens expire, record their last use, are listed without the token, and
// are revoked by id or by subject with an audit event each; a server's
// cache (one second, as rdsgate serve keeps it) refuses a revoked token
// within that second.
func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	short, err := auth.CreateToken(ctx, pool, auth.Identity{Subject: "carol", Groups: []string{"security"}}, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	long, err := auth.CreateToken(ctx, pool, auth.Identity{Subject: "carol", Groups: []string{"security"}}, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.CreateToken(ctx, pool, auth.Identity{Subject: "carol"}, "test", -time.Second); err == nil {
		t.Fatal("a negative ttl was accepted")
	}
	tokens := &auth.Tokens{Pool: pool}
	if _, err := tokens.FromHeader(ctx, "Bearer "+short); err != nil {
		t.Fatal(err)
	}
	list, err := auth.ListTokens(ctx, pool, false)
	if err != nil || len(list) != 2 || list[1].LastUsedAt == nil || list[0].LastUsedAt != nil {
		t.Fatalf("list %+v %v: want two, the older one used", list, err)
	}
	if d := time.Until(list[0].ExpiresAt); d < auth.DefaultTokenTTL-time.Minute || d > auth.DefaultTokenTTL {
		t.Errorf("default expiry in %s", d)
	}
	// Expired: refused.
	if _, err := pool.Exec(ctx, `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, list[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.FromHeader(ctx, "Bearer "+short); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("expired token: %v", err)
	}
	// Revoked through a one-second cache.
	cached := auth.NewTokens(pool, time.Second)
	if _, err := cached.FromHeader(ctx, "Bearer "+long); err != nil {
		t.Fatal(err)
	}
	// Both of carol's, the expired one too.
	if n, err := auth.RevokeTokens(ctx, pool, 0, "carol", "test"); err != nil || n != 2 {
		t.Fatalf("revoke carol's: %d %v", n, err)
	}
	revoked := time.Now()
	for {
		if _, err := cached.FromHeader(ctx, "Bearer "+long); errors.Is(err, auth.ErrUnauthenticated) {
			break
		}
		if time.Since(revoked) > 2*time.Second {
			t.Fatal("the revoked token still works after 2 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if took := time.Since(revoked); took > 1200*time.Millisecond {
		t.Errorf("the revocation took %s to take effect, want about a second", took)
	}
	var events int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE kind = 'token.revoked' AND payload->>'subject' = 'carol'`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("token.revoked events: %d %v", events, err)
	}
	if n, err := auth.RevokeTokens(ctx, pool, 0, "carol", "test"); err != nil || n != 0 {
		t.Fatalf("revoking again: %d %v", n, err)
	}
	if all, err := auth.ListTokens(ctx, pool, true); err != nil || len(all) != 2 {
		t.Fatalf("list --all: %+v %v", all, err)
	}
}
