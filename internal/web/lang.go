package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/i18n"
)

// langCookie remembers the language a visitor chose with the switch; it
// wins over Accept-Language. It holds nothing but "en" or "zh-CN".
const langCookie = "rdsgate_lang"

// printerKey is where withLang leaves the request's printer.
const printerKey = "i18n"

// withLang picks the page's language: the switch's cookie, else the
// browser's Accept-Language, else English.
func (s *Server) withLang(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.printer(c)
		c.Response().Header().Add(echo.HeaderVary, "Accept-Language")
		return next(c)
	}
}

// printer is the request's printer, chosen by withLang (or here, for an
// error page of a route outside the pages' chain).
func (s *Server) printer(c echo.Context) *i18n.Printer {
	if p, ok := c.Get(printerKey).(*i18n.Printer); ok {
		return p
	}
	if s.views == nil {
		return nil
	}
	var choice string
	if ck, err := c.Cookie(langCookie); err == nil {
		choice = ck.Value
	}
	p := s.views.i18n.Printer(s.views.i18n.Match(choice, c.Request().Header.Get("Accept-Language")))
	c.Set(printerKey, p)
	return p
}

// tr translates a message for the request's language, like fmt.Sprintf.
func (s *Server) tr(c echo.Context, format string, args ...any) string {
	return s.printer(c).Sprintf(format, args...)
}

// switchLang remembers the language named in the path for a year and
// returns to the page the switch was clicked on (on this site only). It
// changes nothing but the visitor's own display, so it is a plain link.
func (s *Server) switchLang(c echo.Context) error {
	tag, ok := i18n.Parse(c.Param("lang"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such language")
	}
	c.SetCookie(&http.Cookie{Name: langCookie, Value: i18n.Code(tag), Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
		HttpOnly: true, Secure: c.IsTLS(), SameSite: http.SameSiteLaxMode})
	return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
}
