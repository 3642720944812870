// Package auth owns who a caller is: API bearer tokens (stored as SHA-256
// only), browser sign-in through OpenID Connect (or, for local runs only, a
// dev sign-in), server-side sessions in PostgreSQL (their tokens, too, stored
// as SHA-256 only), and the mapping of groups to the browser roles
// requester, approver, auditor and admin.
//
// It answers with an Identity or a User; what an identity may do with a
// request is the policy's and the domain's call. It owns the SQL of api_tokens and
// imports request and audit only.
package auth
