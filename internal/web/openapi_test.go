package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/apptest"
	"github.com/rdsgate/rdsgate/internal/web"
)

// The contract test. TestMain makes http.DefaultClient (hence the API
// helpers, http.Get, ...) send through contractTransport, and so do the
// test clients of their own (the pages' browsers, hostDo, the TLS client):
// every /api/v1 exchange of this package's tests is checked against the
// OpenAPI document the server serves (openapi.json). http.DefaultTransport
// itself stays an *http.Transport, which code under test clones.
//
//   - a path or method the document does not have must be answered 404 or
//     405 (or 421 for a foreign Host): the server serves no route the
//     document leaves out;
//   - a request the document refuses (a missing token, a body member of the
//     wrong type, a bad enum value, ...) must be answered 4xx: the server
//     accepts nothing the document forbids;
//   - every answer must have a status the operation lists, and its headers
//     and body must match the schema of that status and content type.
//
// A violation fails the call (the client gets an error, which the helpers
// turn into t.Fatal). At the end, a run of the whole package also fails
// unless every success answer of the document (each 2xx status of each
// operation, in each media type) was given to a documented request.

var apiContract *contract

func TestMain(m *testing.M) {
	c, err := newContract(web.OpenAPI())
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
	apiContract = c
	http.DefaultClient.Transport = c.transport(nil)
	code := m.Run()
	if code == 0 {
		code = c.report(os.Stdout, wholeRun())
	}
	os.Exit(code)
}

// wholeRun says whether every test of the package ran (no -run, -skip or
// -short), so that an operation nobody exercised is the suite's gap and not
// the selection's.
func wholeRun() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return !testing.Short()
}

// contract is the loaded document and the record of what was checked.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options

	mu sync.Mutex
	// byOp counts the checked exchanges per operation ("GET /requests/{id}")
	// and status; okOps holds the successKey of every 2xx answer, media type
	// included, to a conforming request.
	byOp      map[string]map[int]int
	okOps     map[string]bool
	exchanges int
	refused   int // requests the document refuses, answered 4xx
	unrouted  int // paths or methods the document does not have, answered 404/405/421
}

func newContract(raw []byte) (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load the document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the document is not valid OpenAPI: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the document: %w", err)
	}
	// A JSON Lines export is checked line by line against the schema's
	// items (OpenAPI 3.1 has no item schema for sequential media types).
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", ndjsonDecoder)
	return &contract{
		doc: doc, router: router,
		opts: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: bearerPresent},
		byOp: map[string]map[int]int{}, okOps: map[string]bool{},
	}, nil
}

// bearerPresent checks the document's one security scheme: that the request
// carries a bearer token. Whether the token is good is the server's to say.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		return fmt.Errorf("security scheme %s: only bearer tokens are checked here", in.SecuritySchemeName)
	}
	scheme, token, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func ndjsonDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	lines := []any{}
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(lines)+1, err)
		}
		lines = append(lines, v)
	}
	return lines, sc.Err()
}

// transport returns next (nil: http.DefaultTransport) checking every /api/v1
// exchange against the contract.
func (c *contract) transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &contractTransport{next: next, c: c}
}

// contractTransport checks every /api/v1 exchange against the contract.
type contractTransport struct {
	next http.RoundTripper
	c    *contract
}

func (t *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.URL.Path, "/api/v1/") {
		return t.next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	sent := req.Clone(req.Context())
	if req.Body != nil {
		sent.Body = io.NopCloser(bytes.NewReader(body))
		sent.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := t.next.RoundTrip(sent)
	if err != nil {
		return nil, err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(got))
	if err := t.c.check(req, body, resp, got); err != nil {
		return nil, fmt.Errorf("%s %s answered %d, against the OpenAPI document: %w\nbody: %.600s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, err, got)
	}
	return resp, nil
}

// check validates one exchange and records it.
func (c *contract) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	ctx := context.Background()
	status := resp.StatusCode
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		want := []int{http.StatusNotFound, http.StatusMisdirectedRequest}
		if errors.Is(err, routers.ErrMethodNotAllowed) {
			want = []int{http.StatusMethodNotAllowed, http.StatusMisdirectedRequest}
		}
		if !slices.Contains(want, status) {
			return fmt.Errorf("the route is served but not documented (%v)", err)
		}
		if err := c.errorBody(resp, respBody); err != nil {
			return err
		}
		c.record("", status, "", false, true)
		return nil
	}
	clone := req.Clone(ctx)
	clone.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: clone, PathParams: params, Route: route, Options: c.opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && (status < 400 || status >= 500) {
		return fmt.Errorf("the document refuses this request, the server did not: %w", reqErr)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: c.opts}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("undocumented answer: %w", err)
	}
	c.record(req.Method+" "+route.Path, status, resp.Header.Get("Content-Type"), reqErr == nil, false)
	return nil
}

// errorBody checks an answer to a request outside the document against
// ErrorBody (a HEAD answer has no body).
func (c *contract) errorBody(resp *http.Response, body []byte) error {
	if len(body) == 0 && resp.Request != nil && resp.Request.Method == http.MethodHead {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error answer is not JSON: %w", err)
	}
	schema := c.doc.Components.Schemas["ErrorBody"].Value
	if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("error answer is not an ErrorBody: %w", err)
	}
	return nil
}

func (c *contract) record(op string, status int, contentType string, conforming, unrouted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exchanges++
	switch {
	case unrouted:
		c.unrouted++
		return
	case !conforming:
		c.refused++
	case status < 300:
		mt, _, _ := mime.ParseMediaType(contentType)
		c.okOps[successKey(op, status, mt)] = true
	}
	if c.byOp[op] == nil {
		c.byOp[op] = map[int]int{}
	}
	c.byOp[op][status]++
}

// successKey names a success answer of an operation: "GET /audit/export
// 200 text/csv".
func successKey(op string, status int, mediaType string) string {
	return fmt.Sprintf("%s %d %s", op, status, mediaType)
}

// successes lists the successKey of every 2xx answer the document gives
// op, one per media type.
func (c *contract) successes(op string) []string {
	method, path, _ := strings.Cut(op, " ")
	var keys []string
	for code, resp := range c.doc.Paths.Value(path).GetOperation(method).Responses.Map() {
		status, err := strconv.Atoi(code)
		if err != nil || status < 200 || status > 299 {
			continue
		}
		for mt := range resp.Value.Content {
			keys = append(keys, successKey(op, status, mt))
		}
	}
	sort.Strings(keys)
	return keys
}

// operations lists the document's operations as "METHOD /path".
func (c *contract) operations() []string {
	var ops []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	sort.Strings(ops)
	return ops
}

// report writes what was checked and, after a whole run, fails (1) when a
// success answer of the document (an operation's 2xx status, each of its
// media types) never answered a documented request.
func (c *contract) report(w io.Writer, whole bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(w, "openapi: %d API exchanges checked against the document: %d documented requests, %d requests the document refuses (answered 4xx), %d to paths or methods it does not have (answered 404/405/421)\n",
		c.exchanges, c.exchanges-c.refused-c.unrouted, c.refused, c.unrouted)
	code := 0
	for _, op := range c.operations() {
		var statuses []string
		for st, n := range c.byOp[op] {
			statuses = append(statuses, fmt.Sprintf("%d×%d", st, n))
		}
		sort.Strings(statuses)
		fmt.Fprintf(w, "openapi:   %-36s %s\n", op, strings.Join(statuses, " "))
		for _, k := range c.successes(op) {
			if whole && !c.okOps[k] {
				fmt.Fprintf(w, "openapi: FAIL: no test gets the answer %s to a documented request\n", k)
				code = 1
			}
		}
	}
	return code
}

// The document names exactly the routes the server serves under /api/v1,
// each with the same methods: a route added, removed or renamed on one side
// only fails here.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	a := apptest.Start(t, nil)
	served := map[string]bool{}
	for _, r := range a.Server.Echo().Routes() {
		p, ok := strings.CutPrefix(r.Path, "/api/v1")
		if !ok || !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}, r.Method) {
			continue
		}
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if name, ok := strings.CutPrefix(s, ":"); ok {
				segs[i] = "{" + name + "}"
			}
		}
		served[r.Method+" "+strings.Join(segs, "/")] = true
	}
	documented := map[string]bool{}
	for _, op := range apiContract.operations() {
		documented[op] = true
		if !served[op] {
			t.Errorf("the document has %s, the server does not serve it", op)
		}
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("the server serves %s under /api/v1, the document does not have it", op)
		}
	}
	if len(documented) == 0 {
		t.Fatal("the document has no operation")
	}
}

// GET /api/v1/openapi.json serves the document, without a token, as the
// server answers everything else: the Host check still applies.
func TestOpenAPIDocumentServed(t *testing.T) {
	t.Parallel()
	env := setupAPIWith(t, func(c *app.Config) {
		c.Web.DevLogin = false
		c.Web.AllowedHosts = []string{"rdsgate.example.com"}
	})
	get := func(host string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env.url+"/api/v1/openapi.json", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, raw
	}
	resp, raw := get("rdsgate.example.com")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !bytes.Equal(raw, web.OpenAPI()) {
		t.Fatalf("GET /api/v1/openapi.json: %d %q, %d bytes; want 200 application/json, the embedded document", resp.StatusCode, resp.Header.Get("Content-Type"), len(raw))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, %v; want 3.1.0", doc.OpenAPI, err)
	}
	if resp, _ := get("rdsgate.attacker.example"); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("another host: %d, want 421", resp.StatusCode)
	}
}
