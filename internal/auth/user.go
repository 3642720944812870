package auth

import (
	"slices"
	"time"
)

// Sign-in methods recorded on a User.
const (
	MethodOIDC = "oidc"
	MethodDev  = "dev"
)

// User is who a browser session belongs to: the subject and groups the
// identity provider (or the dev sign-in) vouched for, and the roles those
// groups grant, fixed at sign-in.
type User struct {
	Subject string   `json:"subject"`
	Groups  []string `json:"groups"`
	Roles   []Role   `json:"roles"`
	// MFA is true when the ID token's amr claim contained "mfa"; it feeds
	// the policy's acs:MFAPresent.
	MFA bool `json:"mfa,omitempty"`
	// Method is MethodOIDC or MethodDev.
	Method     string    `json:"method"`
	SignedInAt time.Time `json:"signed_in_at"`
}

// Has reports whether u holds role r. Admin holds every role (RoleMap.Roles
// already expands it; this keeps older sessions right too).
func (u *User) Has(r Role) bool {
	if u == nil {
		return false
	}
	return slices.Contains(u.Roles, r) || slices.Contains(u.Roles, RoleAdmin)
}

// HasAny reports whether u holds at least one of roles.
func (u *User) HasAny(roles ...Role) bool {
	for _, r := range roles {
		if u.Has(r) {
			return true
		}
	}
	return false
}
