package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/request"
)

// ErrUnauthenticated: no valid credentials were presented (HTTP 401).
var ErrUnauthenticated = errors.New("unauthenticated")

// Identity is who an API token or a session stands for.
type Identity struct {
	Subject string   `json:"subject"`
	Groups  []string `json:"groups"`
}

// TokenPrefix starts every API token, so a leaked one is easy to grep for.
const TokenPrefix = "rdsg_"

// CreateToken makes a new random API token for id, stores only its SHA-256
// and records token.created (without the token) by actor, in one
// transaction. The clear token is returned once and never again.
func CreateToken(ctx context.Context, pool *pgxpool.Pool, id Identity, actor string) (string, error) {
	id.Subject = strings.TrimSpace(id.Subject)
	if id.Subject == "" {
		return "", request.Invalid("subject", "is required")
	}
	if id.Groups == nil {
		id.Groups = []string{}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO api_tokens (subject, groups, token_hash) VALUES ($1, $2, $3)`,
			id.Subject, id.Groups, sum[:]); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Record{Kind: audit.KindTokenCreated, Actor: actor,
			Payload: map[string]any{"subject": id.Subject, "groups": id.Groups}})
	})
	if err != nil {
		return "", fmt.Errorf("create token for %s: %w", id.Subject, err)
	}
	return token, nil
}

// lookupToken returns the identity of a valid, unrevoked token.
func lookupToken(ctx context.Context, pool *pgxpool.Pool, token string) (Identity, error) {
	sum := sha256.Sum256([]byte(token))
	var id Identity
	err := pool.QueryRow(ctx, `SELECT subject, groups FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`, sum[:]).
		Scan(&id.Subject, &id.Groups)
	if errors.Is(err, pgx.ErrNoRows) {
		return Identity{}, fmt.Errorf("unknown or revoked token: %w", ErrUnauthenticated)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("look up token: %w", err)
	}
	return id, nil
}

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
		return Identity{}, fmt.Errorf("missing Authorization header: %w", ErrUnauthenticated)
	}
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Identity{}, fmt.Errorf("authorization must be \"Bearer <token>\": %w", ErrUnauthenticated)
	}
	if t.cache == nil {
		return lookupToken(ctx, t.Pool, token)
	}
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	t.mu.Lock()
	c, hit := t.cache[key]
	t.mu.Unlock()
	if hit && now.Before(c.expires) {
		return c.id, nil
	}
	id, err := lookupToken(ctx, t.Pool, token)
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
