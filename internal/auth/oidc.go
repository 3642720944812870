package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig configures sign-in through an OpenID Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document is read
	// at start-up.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is rdsgate's callback, <base>/auth/callback.
	RedirectURL string
	// GroupsClaim names the ID-token claim holding the user's groups: an
	// array of strings or one string. A dotted path ("realm_access.roles")
	// reads a nested claim. Default "groups".
	GroupsClaim string
	// SubjectClaim names the claim used as the user's name in requests,
	// votes and the policy's principal.subject. Default "sub"; set
	// "preferred_username" when the provider's sub is opaque and the RAM
	// data uses user names.
	SubjectClaim string
	// Scopes requested; default openid, profile, email, groups.
	Scopes []string
}

// OIDC signs users in with the authorization code flow, PKCE (S256),
// state and nonce, and verifies the ID token's signature, issuer, audience,
// expiry and nonce.
type OIDC struct {
	cfg      OIDCConfig
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// NewOIDC reads the provider's discovery document and returns the client.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	switch {
	case cfg.Issuer == "" || cfg.ClientID == "":
		return nil, errors.New("oidc: issuer and client id are required")
	case cfg.RedirectURL == "":
		return nil, errors.New("oidc: redirect URL is required")
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.SubjectClaim == "" {
		cfg.SubjectClaim = "sub"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email", "groups"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discover issuer %s: %w", cfg.Issuer, err)
	}
	return &OIDC{
		cfg: cfg,
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL,
			Endpoint: p.Endpoint(), Scopes: cfg.Scopes},
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
	}, nil
}

// Issuer returns the configured issuer URL.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

// Challenge is the per-attempt secret state of one sign-in: kept in the
// session between AuthURL and Exchange, never sent anywhere else whole.
type Challenge struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	// Next is the local path to return to after sign-in.
	Next string `json:"next,omitempty"`
}

// NewChallenge makes fresh random state, nonce and PKCE verifier.
func NewChallenge(next string) Challenge {
	return Challenge{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier(), Next: next}
}

// AuthURL is where the browser goes to sign in at the provider.
func (o *OIDC) AuthURL(ch Challenge) string {
	return o.oauth.AuthCodeURL(ch.State, oidc.Nonce(ch.Nonce), oauth2.S256ChallengeOption(ch.Verifier))
}

// Claims is what a sign-in established.
type Claims struct {
	Subject string
	Groups  []string
	MFA     bool
	Expiry  time.Time
}

// Exchange redeems code (with the PKCE verifier) at the token endpoint and
// verifies the ID token against ch's nonce. The caller has already checked
// the returned state against ch.State.
func (o *OIDC) Exchange(ctx context.Context, code string, ch Challenge) (Claims, error) {
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(ch.Verifier))
	if err != nil {
		return Claims{}, fmt.Errorf("oidc: redeem code: %v: %w", err, ErrUnauthenticated)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Claims{}, fmt.Errorf("oidc: the token response has no id_token: %w", ErrUnauthenticated)
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return Claims{}, fmt.Errorf("oidc: verify ID token: %v: %w", err, ErrUnauthenticated)
	}
	if idt.Nonce != ch.Nonce {
		return Claims{}, fmt.Errorf("oidc: ID token nonce does not match this sign-in: %w", ErrUnauthenticated)
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return Claims{}, fmt.Errorf("oidc: decode claims: %w", err)
	}
	c := Claims{Subject: idt.Subject, Groups: stringsAt(all, o.cfg.GroupsClaim), Expiry: idt.Expiry}
	if o.cfg.SubjectClaim != "sub" {
		s, _ := lookup(all, o.cfg.SubjectClaim).(string)
		c.Subject = s
	}
	if strings.TrimSpace(c.Subject) == "" {
		return Claims{}, fmt.Errorf("oidc: the ID token has no %s claim: %w", o.cfg.SubjectClaim, ErrUnauthenticated)
	}
	c.MFA = slices.Contains(stringsAt(all, "amr"), "mfa")
	return c, nil
}

// lookup walks a dotted claim path.
func lookup(claims map[string]any, path string) any {
	var v any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}

// stringsAt returns the claim at path as strings: an array's string
// members, or a single string split on commas and spaces.
func stringsAt(claims map[string]any, path string) []string {
	var out []string
	switch v := lookup(claims, path).(type) {
	case []any:
		for _, item := range v {
			if s, ok := item.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	case string:
		out = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	}
	return out
}
