// Package auth owns who a caller is: API bearer tokens (stored as SHA-256
// only) and, for the browser, sign-in and sessions. It answers with an
// Identity; what an identity may do is the policy's and the domain's call.
package auth
