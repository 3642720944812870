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

// DefaultTokenTTL is how long an API token is valid unless told otherwise.
const DefaultTokenTTL = 90 * 24 * time.Hour

// CreateToken makes a new random API token for id, valid for ttl
// (DefaultTokenTTL when 0), stores only its SHA-256 and records
// token.created (without the token) by actor, in one transaction. The
// clear token is returned once and never again.
func CreateToken(ctx context.Context, pool *pgxpool.Pool, id Identity, actor string, ttl time.Duration) (string, error) {
	id.Subject = strings.TrimSpace(id.Subject)
	if id.Subject == "" {
		return "", request.Invalid("subject", "is required")
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < 0 {
		return "", request.Invalid("ttl", "must be positive")
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
		var tokenID int64
		var expires time.Time
		if err := tx.QueryRow(ctx, `INSERT INTO api_tokens (subject, groups, token_hash, expires_at)
VALUES ($1, $2, $3, now() + $4 * interval '1 second') RETURNING id, expires_at`,
			id.Subject, id.Groups, sum[:], int64(ttl.Seconds())).Scan(&tokenID, &expires); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Record{Kind: audit.KindTokenCreated, Actor: actor,
			Payload: map[string]any{"token_id": tokenID, "subject": id.Subject, "groups": id.Groups, "expires_at": expires.UTC()}})
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
	// The lookup also notes the use, writing at most once a minute per
	// token: a lookup happens every second per busy token (the cache).
	err := pool.QueryRow(ctx, `WITH t AS (
    SELECT id, subject, groups, last_used_at FROM api_tokens
    WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
), used AS (
    UPDATE api_tokens SET last_used_at = now() FROM t
    WHERE api_tokens.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
)
SELECT subject, groups FROM t`, sum[:]).Scan(&id.Subject, &id.Groups)
	if errors.Is(err, pgx.ErrNoRows) {
		return Identity{}, fmt.Errorf("unknown, expired or revoked token: %w", ErrUnauthenticated)
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

// TokenInfo is what `rdsgate token list` shows of a token: never the token.
type TokenInfo struct {
	ID         int64      `json:"id"`
	Subject    string     `json:"subject"`
	Groups     []string   `json:"groups"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// ListTokens lists the tokens, newest first; revoked and expired ones only
// when all is set.
func ListTokens(ctx context.Context, pool *pgxpool.Pool, all bool) ([]TokenInfo, error) {
	rows, err := pool.Query(ctx, `SELECT id, subject, groups, created_at, expires_at, last_used_at, revoked_at
FROM api_tokens WHERE $1 OR (revoked_at IS NULL AND expires_at > now()) ORDER BY id DESC`, all)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TokenInfo])
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeTokens revokes the token with id, or, with id 0, every token of
// subject, and records token.revoked (subject, groups) for each, by actor,
// in one transaction. It returns how many it revoked.
func RevokeTokens(ctx context.Context, pool *pgxpool.Pool, id int64, subject, actor string) (int, error) {
	if (id == 0) == (subject == "") {
		return 0, request.Invalid("id", "name a token id or a subject, not both")
	}
	n := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE api_tokens SET revoked_at = now()
WHERE revoked_at IS NULL AND (id = $1 OR ($1 = 0 AND subject = $2)) RETURNING id, subject, groups`, id, subject)
		if err != nil {
			return err
		}
		type revoked struct {
			ID      int64
			Subject string
			Groups  []string
		}
		rs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[revoked])
		if err != nil {
			return err
		}
		recs := make([]audit.Record, len(rs))
		for i, r := range rs {
			recs[i] = audit.Record{Kind: audit.KindTokenRevoked, Actor: actor,
				Payload: map[string]any{"token_id": r.ID, "subject": r.Subject, "groups": r.Groups}}
		}
		n = len(rs)
		return audit.Append(ctx, tx, recs...)
	})
	if err != nil {
		return 0, fmt.Errorf("revoke tokens: %w", err)
	}
	return n, nil
}
