package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/request"
)

// TokenPrefix starts every API token, so a leaked one is easy to grep for.
const TokenPrefix = "rdsg_"

// Identity is who an API token or a session stands for.
type Identity struct {
	Subject string   `json:"subject"`
	Groups  []string `json:"groups"`
}

// CreateToken makes a new random API token for id and stores only its
// SHA-256. The clear token is returned once and never again.
func CreateToken(ctx context.Context, tx pgx.Tx, id Identity) (string, error) {
	if strings.TrimSpace(id.Subject) == "" {
		return "", request.Invalid("subject", "is required")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO api_tokens (subject, groups, token_hash) VALUES ($1, $2, $3)`,
		id.Subject, groups, sum[:]); err != nil {
		return "", domainErr(err, "create token")
	}
	return token, nil
}

// LookupToken returns the identity of a valid, unrevoked token, or an error
// wrapping request.ErrUnauthenticated.
func LookupToken(ctx context.Context, q Querier, token string) (Identity, error) {
	sum := sha256.Sum256([]byte(token))
	var id Identity
	err := q.QueryRow(ctx, `SELECT subject, groups FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`, sum[:]).
		Scan(&id.Subject, &id.Groups)
	if errors.Is(err, pgx.ErrNoRows) {
		return Identity{}, fmt.Errorf("unknown or revoked token: %w", request.ErrUnauthenticated)
	}
	if err != nil {
		return Identity{}, domainErr(err, "look up token")
	}
	return id, nil
}
