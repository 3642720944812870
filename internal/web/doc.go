// Package web owns rdsgate's HTTP surface: the Echo server, the JSON API
// under /api/v1, health endpoints, and (with the browser issue) the
// server-rendered pages. Handlers parse and authorise, call package workflow,
// and return errors; ErrorHandler maps every error to one status and one
// JSON shape.
package web
