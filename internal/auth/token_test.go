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
	tok, err := auth.CreateToken(ctx, pool, auth.Identity{Subject: "alice", Groups: []string{"developers"}}, "test")
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
