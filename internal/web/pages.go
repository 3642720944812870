package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/auth"
	"github.com/rdsgate/rdsgate/internal/i18n"
	"github.com/rdsgate/rdsgate/internal/request"
	ui "github.com/rdsgate/rdsgate/web"
)

// csrfField is the hidden form field that carries the CSRF token; an
// X-CSRF-Token header may carry it instead. Never the query string.
const (
	csrfField  = "_csrf"
	csrfHeader = "X-CSRF-Token"
	// csrfKey is where the session keeps its token: one per session, new
	// at every sign-in.
	csrfKey = "csrf"
)

// contentSecurityPolicy allows nothing inline and nothing from elsewhere:
// scripts and styles come from /static only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// views are the parsed templates and the static assets, built once.
type views struct {
	// errorText is Pages.ErrorText (nil: no messages).
	errorText func(code, lang string) string
	// i18n is the catalogue of translations; pages holds each page parsed
	// once per language ("en", "zh-CN"), with T bound to that language.
	i18n   *i18n.Catalog
	pages  map[string]map[string]*template.Template
	assets map[string]asset  // hashed file name -> content
	urls   map[string]string // file name -> /static/<hashed name>
}

type asset struct {
	body  []byte
	ctype string
}

// loadViews hashes the static assets and parses layout.html with each page
// file. It fails on any template error, so a broken template stops the
// server at start-up (and the render test) rather than a user's request.
func loadViews(errorText func(code, lang string) string) (*views, error) {
	cat, err := i18n.Load(ui.I18n, "i18n")
	if err != nil {
		return nil, fmt.Errorf("translations: %w", err)
	}
	v := &views{errorText: errorText, i18n: cat, pages: map[string]map[string]*template.Template{}, assets: map[string]asset{}, urls: map[string]string{}}
	files, err := fs.ReadDir(ui.Static, "static")
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	for _, f := range files {
		body, err := fs.ReadFile(ui.Static, "static/"+f.Name())
		if err != nil {
			return nil, fmt.Errorf("static assets: %w", err)
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(f.Name())
		hashed := strings.TrimSuffix(f.Name(), ext) + "." + hex.EncodeToString(sum[:5]) + ext
		v.assets[hashed] = asset{body: body, ctype: mime.TypeByExtension(ext)}
		v.urls[f.Name()] = "/static/" + hashed
	}
	pages, err := fs.Glob(ui.Templates, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	for _, tag := range i18n.Supported {
		pr := cat.Printer(tag)
		layout, err := template.New("layout.html").Funcs(v.funcs(pr)).ParseFS(ui.Templates, "templates/layout.html")
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		byName := map[string]*template.Template{}
		for _, p := range pages {
			name := strings.TrimSuffix(path.Base(p), ".html")
			if name == "layout" {
				continue
			}
			t, err := template.Must(layout.Clone()).ParseFS(ui.Templates, p)
			if err != nil {
				return nil, fmt.Errorf("templates: %w", err)
			}
			byName[name] = t
		}
		v.pages[pr.Code()] = byName
	}
	return v, nil
}

// timeHTML is t as a <time> element: UTC in the text (what a page without
// JavaScript shows) and on hover; app.js rewrites the text into the
// viewer's own time zone.
func timeHTML(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	u := t.UTC()
	s := u.Format("2006-01-02 15:04:05 UTC")
	return template.HTML(`<time class="local" datetime="` + u.Format(time.RFC3339) + `" title="` + s + `">` + s + `</time>`)
}

// funcs are the templates' functions in the language of pr: T translates a
// message (English text, fmt verbs) and the status names come translated.
func (v *views) funcs(pr *i18n.Printer) template.FuncMap {
	return template.FuncMap{
		"T":    pr.Sprintf,
		"lang": pr.Code,
		"static": func(name string) (string, error) {
			u, ok := v.urls[name]
			if !ok {
				return "", fmt.Errorf("no static asset %q", name)
			}
			return u, nil
		},
		"has": func(u *auth.User, role string) bool { return u.Has(auth.Role(role)) },
		"ts":  timeHTML,
		"tsp": func(t *time.Time) template.HTML {
			if t == nil {
				return ""
			}
			return timeHTML(*t)
		},
		"int": func(n int64) int { return int(n) },
		"short": func(s string) string {
			if len(s) > 12 {
				return s[:12] + "…"
			}
			return s
		},
		"join":         strings.Join,
		"statusText":   func(st request.Status) string { return pr.Sprintf(statusText(st)) },
		"errorMessage": func(code string) string { return v.errorMessageIn(code, pr.Code()) },
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
	}
}

// statusText is a status in plain words.
func statusText(s request.Status) string {
	return map[request.Status]string{
		request.StatusPending: "Waiting for approval", request.StatusApproved: "Approved — queued for release",
		request.StatusExecuting: "Releasing now", request.StatusSucceeded: "Released",
		request.StatusFailed: "Release failed", request.StatusRejected: "Rejected", request.StatusExpired: "Expired",
		request.StatusCancelled: "Cancelled", request.StatusDenied: "Denied by policy",
	}[s]
}

// errorMessage is the message Alibaba Cloud documents for an error code,
// in English.
func (v *views) errorMessage(code string) string { return v.errorMessageIn(code, "en") }

// errorMessageIn is the message Alibaba Cloud documents for an error code,
// in lang ("en", "zh-CN"; English when the catalogue lacks lang). The
// templates' errorMessage is this, bound to the page's language.
func (v *views) errorMessageIn(code, lang string) string {
	if v.errorText == nil || code == "" {
		return ""
	}
	return v.errorText(code, lang)
}

// page is what every template receives: the layout's fields and the page's
// own Data.
type page struct {
	Title string
	// Lang is the page's language ("en", "zh-CN") and Path the page's own
	// address (where the language switch returns), set by render.
	Lang, Path string
	Nav        string
	User       *auth.User
	CSRF       string
	DevLogin   bool
	Flash      string
	Data       any
	// InboxCount is how many requests wait for the user's vote (approvers:
	// the badge on "Inbox"), counted by render unless the page did.
	InboxCount   int
	inboxCounted bool
}

// countInbox sets the navigation's inbox count from a page that has it.
func (p *page) countInbox(n int) { p.InboxCount, p.inboxCounted = n, true }

// render writes the page name with status. The layout gets the user, the
// CSRF token, the dev banner flag and the flash message.
func (s *Server) render(c echo.Context, status int, name string, p page) error {
	pr := s.printer(c)
	t, ok := s.views.pages[pr.Code()][name]
	if !ok {
		return fmt.Errorf("render: no page %q", name)
	}
	p.Lang, p.Path = pr.Code(), c.Request().URL.RequestURI()
	p.User = userOf(c)
	p.CSRF, _ = c.Get("csrf").(string)
	p.DevLogin = s.b.DevLogin
	if !p.inboxCounted && status < http.StatusInternalServerError {
		p.InboxCount = s.inboxCount(c, p.User)
	}
	if p.Flash == "" && c.Get(sessionLoaded) != nil {
		p.Flash = s.b.Sessions.Pop(c.Request().Context(), flashKey)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// renderFragment writes one named template of a page without the layout.
func (s *Server) renderFragment(c echo.Context, pageName, fragment string, data any) error {
	var buf bytes.Buffer
	if err := s.views.pages[s.printer(c).Code()][pageName].ExecuteTemplate(&buf, fragment, data); err != nil {
		return fmt.Errorf("render %s/%s: %w", pageName, fragment, err)
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// errorPage renders the HTML error page (ErrorHandler's hook for pages).
func (s *Server) errorPage(c echo.Context, status int, body APIError) error {
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	if strings.HasSuffix(c.Request().URL.Path, ".json") {
		return c.JSON(status, errorBody{Error: body})
	}
	c.Response().Header().Set("Content-Security-Policy", contentSecurityPolicy)
	title := http.StatusText(status)
	if title == "" {
		title = "Error"
	}
	title = s.tr(c, title)
	return s.render(c, status, "error", page{Title: title, Data: struct {
		Status int
		Error  APIError
	}{status, body}})
}

const flashKey = "flash"

// flash shows msg on the next page the user sees.
func (s *Server) flash(c echo.Context, msg string) {
	s.b.Sessions.Put(c.Request().Context(), flashKey, msg)
}

// Context keys set by the page middleware.
const (
	userKey       = "user"
	sessionLoaded = "session"
)

func userOf(c echo.Context) *auth.User {
	u, _ := c.Get(userKey).(*auth.User)
	return u
}

// pageHeaders sets the Content-Security-Policy and keeps pages (which carry
// personal data and CSRF tokens) out of shared caches.
func pageHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set(echo.HeaderCacheControl, "no-store")
		return next(c)
	}
}

// withSession loads the session around the rest of the chain. Errors are
// rendered inside, so that the session is saved and its cookie written
// before the error page is.
func (s *Server) withSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.b.Sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.SetRequest(r)
			c.Response().Writer = w
			c.Set(sessionLoaded, true)
			if u, ok := s.b.Sessions.User(r.Context()); ok {
				c.Set(userKey, u)
			}
			if err := next(c); err != nil {
				c.Error(err)
			}
		})).ServeHTTP(c.Response().Writer, c.Request())
		return nil
	}
}

// csrfError is a state-changing form that came without a valid token.
type csrfError struct{ reason string }

func (e *csrfError) Error() string {
	return "this form could not be verified (" + e.reason + "); reload the page and submit it again"
}

// csrf checks every state-changing request twice. Go's
// CrossOriginProtection refuses what the browser says comes from another
// origin (Sec-Fetch-Site, else Origin against Host). And the request must
// carry the session's own token, in the form body or the X-CSRF-Token
// header: a token is bound to one server-side session and renewed at
// sign-in, so neither a cookie/field pair of another session nor a
// made-up one passes (a double-submit cookie would accept both).
func (s *Server) csrf() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx := c.Request().Context()
			token := s.b.Sessions.Get(ctx, csrfKey)
			if token == "" {
				token = rand.Text()
				s.b.Sessions.Put(ctx, csrfKey, token)
			}
			c.Set("csrf", token)
			if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions {
				return next(c)
			}
			// Origin and Sec-Fetch-Site first: a browser says when a form
			// comes from another site.
			if err := cop.Check(c.Request()); err != nil {
				return &csrfError{reason: "cross-origin request"}
			}
			got := c.Request().PostFormValue(csrfField)
			if got == "" {
				got = c.Request().Header.Get(csrfHeader)
			}
			switch {
			case got == "":
				return &csrfError{reason: "missing token"}
			case subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1:
				return &csrfError{reason: "invalid token"}
			}
			return next(c)
		}
	}
}

// signedIn lets the request through when a user is signed in, whatever
// their roles. Anonymous GETs are sent to the sign-in page and come back
// afterwards; other anonymous requests are refused.
func signedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if userOf(c) == nil {
			if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
				return c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			return fmt.Errorf("sign in first: %w", auth.ErrUnauthenticated)
		}
		return next(c)
	}
}

// require lets the request through when the signed-in user holds one of
// roles (any role at all when none are named).
func (s *Server) require(roles ...auth.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return signedIn(func(c echo.Context) error {
			u := userOf(c)
			if len(roles) == 0 && len(u.Roles) == 0 {
				return &roleError{subject: u.Subject, groups: u.Groups}
			}
			if len(roles) > 0 && !u.HasAny(roles...) {
				return &roleError{subject: u.Subject, groups: u.Groups, roles: roles}
			}
			return next(c)
		})
	}
}

// serveStatic serves an embedded asset by its content-hashed name; the
// name changes when the content does, so it may be cached for a year.
func (s *Server) serveStatic(c echo.Context) error {
	a, ok := s.views.assets[c.Param("file")]
	if !ok {
		return echo.ErrNotFound
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, a.ctype, a.body)
}

// localPath returns next when it is a path on this site, else "/": the
// sign-in's return address must not send anyone elsewhere.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
