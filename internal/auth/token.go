package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/store"
)

// Identity is who a caller is.
type Identity = store.Identity

// Tokens authenticates API bearer tokens against the database.
type Tokens struct{ Pool *pgxpool.Pool }

// FromHeader authenticates an Authorization header value ("Bearer <token>").
func (t Tokens) FromHeader(ctx context.Context, header string) (Identity, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if header == "" {
		return Identity{}, fmt.Errorf("missing Authorization header: %w", request.ErrUnauthenticated)
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Identity{}, fmt.Errorf("authorization must be \"Bearer <token>\": %w", request.ErrUnauthenticated)
	}
	return store.LookupToken(ctx, t.Pool, strings.TrimSpace(token))
}
