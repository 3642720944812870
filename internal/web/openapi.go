package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the OpenAPI 3.1 document of /api/v1, written by hand.
// The test suite validates every API request and answer it makes against
// it, and checks that it names exactly the routes the server serves
// (openapi_test.go): a change of the API that it does not describe fails.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document of /api/v1 (JSON).
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

// openAPI serves the document, to anyone: the contract is no secret, and
// clients and generators read it before they hold a token.
func (s *Server) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
