// Package web owns rdsgate's HTTP surface: the Echo server, the JSON API
// under /api/v1 (bearer tokens only, never cookies), health endpoints, and
// the server-rendered pages (when Deps.Pages is set): sign-in, the
// new-request form with its instance lookup, a request's page with its
// live timeline, the approver inbox, the audit log with its exports, and
// the policy simulator.
//
// Handlers parse and authorise, call package lifecycle (every state change
// and read model) or the small interfaces of pages_config.go (the audit
// trail, eligibility, the user directory), and return errors;
// ErrorHandler maps every error to one status and renders the JSON shape
// or, for pages, the HTML error page. Every page route checks the role and
// the ownership on the server (routes.go lists who may use what); every
// form carries a CSRF token; pages are served under a Content-Security-
// Policy that allows no inline script. Templates and assets come from the
// top-level web package, parsed once at start-up. The API's contract is
// the OpenAPI 3.1 document openapi.json, served at /api/v1/openapi.json;
// the tests check every API exchange against it. It must not import
// store, executor or aliyun.
package web
