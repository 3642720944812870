package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
)

// Identity is who a caller is.
type Identity = store.Identity

// Tokens authenticates API bearer tokens against the database. The zero
// cache asks the database every time; NewTokens keeps what it validated for
// a short while.
type Tokens struct {
	Pool *pgxpool.Pool

	ttl   time.Duration
	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedIdentity
}

type cachedIdentity struct {
	id      Identity
	expires time.Time
}

// maxCachedTokens bounds the cache; past it the cache is emptied, which
// only costs lookups.
const maxCachedTokens = 10000

// NewTokens returns a Tokens that remembers each valid token's identity for
// ttl, keyed by the token's SHA-256 (the clear token is never kept). A
// revoked token is therefore refused at most ttl after its revocation; a
// token that failed is never cached.
func NewTokens(pool *pgxpool.Pool, ttl time.Duration) *Tokens {
	return &Tokens{Pool: pool, ttl: ttl, cache: map[[sha256.Size]byte]cachedIdentity{}}
}

// FromHeader authenticates an Authorization header value ("Bearer <token>").
func (t *Tokens) FromHeader(ctx context.Context, header string) (Identity, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if header == "" {
		return Identity{}, fmt.Errorf("missing Authorization header: %w", request.ErrUnauthenticated)
	}
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Identity{}, fmt.Errorf("authorization must be \"Bearer <token>\": %w", request.ErrUnauthenticated)
	}
	if t.cache == nil {
		return store.LookupToken(ctx, t.Pool, token)
	}
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	t.mu.Lock()
	c, hit := t.cache[key]
	t.mu.Unlock()
	if hit && now.Before(c.expires) {
		return c.id, nil
	}
	id, err := store.LookupToken(ctx, t.Pool, token)
	if err != nil {
		return Identity{}, err
	}
	t.mu.Lock()
	if len(t.cache) >= maxCachedTokens {
		clear(t.cache)
	}
	t.cache[key] = cachedIdentity{id: id, expires: now.Add(t.ttl)}
	t.mu.Unlock()
	return id, nil
}
