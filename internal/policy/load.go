package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"

	"github.com/rdsgate/rdsgate/policies"
)

// The queries the engine prepares, and the decision-log paths they report.
const (
	decideQuery  = "data.rdsgate.release.decision"
	approveQuery = "data.rdsgate.approve.decision"
	// DecidePath is the Path of every Decision.
	DecidePath = "rdsgate/release/decision"
	// ApprovePath is the Path of every ApproveDecision.
	ApprovePath = "rdsgate/approve/decision"
)

// Data file names in the data directory.
const (
	ramFileName = "ram.json"
)

var orgFileNames = []string{"org.json", "org.yaml", "org.yml"}

// sources is everything one revision is made of, as read.
type sources struct {
	modules map[string][]byte // module path -> Rego source, tests excluded
	system  []byte            // RAM system policies
	ram     []byte            // nil when ram.json is absent (allowed with accounts.json)
	org     []byte
	orgName string
	// accounts is accounts.json, nil when absent.
	accounts []byte
	// accountRAM are the files ram/<name>.json, by file name (<name>.json).
	accountRAM map[string][]byte
	// accountID (Options.AccountID) overrides ram.json's account_id when
	// set; with accounts.json it is the default account.
	accountID string
}

// revisionID hashes the sources: the same modules and data bytes give the
// same revision.
func (s sources) revisionID() string {
	h := sha256.New()
	write := func(name string, b []byte) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	names := make([]string, 0, len(s.modules))
	for name := range s.modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		write("module:"+name, s.modules[name])
	}
	write("system", s.system)
	write("data:"+ramFileName, s.ram)
	write("data:"+s.orgName, s.org)
	// Without accounts.json and ram/, the revision is what it was before
	// they existed.
	if s.accounts != nil {
		write("data:"+accountsFileName, s.accounts)
	}
	for _, name := range slices.Sorted(maps.Keys(s.accountRAM)) {
		write("data:"+ramDirName+"/"+name, s.accountRAM[name])
	}
	write("account_id", []byte(s.accountID))
	return hex.EncodeToString(h.Sum(nil))
}

// customBuiltins are the engine's own builtins, for the compiler.
func customBuiltins() map[string]*ast.Builtin {
	return map[string]*ast.Builtin{lookupDecl.Name: {Name: lookupDecl.Name, Decl: lookupDecl.Decl}}
}

// shippedModules are the Rego modules built into rdsgate (the example
// custom modules under policies/examples are not among them).
var shippedModules = sync.OnceValues(func() (map[string][]byte, error) {
	modules, err := readModules(policies.FS, policies.ExamplesDir)
	if err == nil && len(modules) == 0 {
		err = errors.New("read policies: no .rego modules")
	}
	return modules, err
})

// readSources reads the Rego modules (the embedded ones, with policyDir's
// beside them: a file of the same path replaces the shipped one) and the
// data (from dataDir, or the embedded examples).
func readSources(policyDir, dataDir string) (sources, error) {
	var s sources
	modules, err := shippedModules()
	if err != nil {
		return s, err
	}
	s.modules = maps.Clone(modules)
	if s.system, err = fs.ReadFile(policies.FS, policies.SystemPoliciesFile); err != nil {
		return s, fmt.Errorf("read RAM system policies: %w", err)
	}
	if policyDir != "" {
		dir := os.DirFS(policyDir)
		own, err := readModules(dir, "")
		if err != nil {
			return s, fmt.Errorf("%s: %w", policyDir, err)
		}
		maps.Copy(s.modules, own)
		if b, err := fs.ReadFile(dir, policies.SystemPoliciesFile); err == nil {
			s.system = b
		} else if !errors.Is(err, fs.ErrNotExist) {
			return s, fmt.Errorf("read RAM system policies: %w", err)
		}
	}

	dataFS, err := fs.Sub(policies.FS, policies.ExamplesDir)
	if err != nil {
		return s, fmt.Errorf("open embedded examples: %w", err)
	}
	if dataDir != "" {
		dataFS = os.DirFS(dataDir)
	}
	if s.accounts, err = fs.ReadFile(dataFS, accountsFileName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("read policy data: %w", err)
	}
	if s.ram, err = fs.ReadFile(dataFS, ramFileName); err != nil && (s.accounts == nil || !errors.Is(err, fs.ErrNotExist)) {
		return s, fmt.Errorf("read policy data: %w", err)
	}
	if s.accountRAM, err = readAccountRAM(dataFS); err != nil {
		return s, fmt.Errorf("read policy data: %w", err)
	}
	for _, name := range orgFileNames {
		b, err := fs.ReadFile(dataFS, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("read policy data: %w", err)
		}
		if s.orgName != "" {
			return s, fmt.Errorf("read policy data: both %s and %s exist; keep one", s.orgName, name)
		}
		s.org, s.orgName = b, name
	}
	if s.orgName == "" {
		return s, fmt.Errorf("read policy data: none of %s exists", strings.Join(orgFileNames, ", "))
	}
	return s, nil
}

// readAccountRAM reads the .json files of the directory ram of fsys (the
// accounts' own RAM data), by file name; nil when there is no such
// directory. Other files and subdirectories are not data.
func readAccountRAM(fsys fs.FS) (map[string][]byte, error) {
	entries, err := fs.ReadDir(fsys, ramDirName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out map[string][]byte
	for _, ent := range entries {
		if path.Ext(ent.Name()) != ".json" || ent.IsDir() {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(ramDirName, ent.Name()))
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[ent.Name()] = b
	}
	return out, nil
}

// readModules reads every .rego file of fsys except the _test.rego ones and
// those under the directory skip ("" skips none).
func readModules(fsys fs.FS, skip string) (map[string][]byte, error) {
	modules := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p == skip {
			return fs.SkipDir
		}
		if d.IsDir() || path.Ext(p) != ".rego" || strings.HasSuffix(p, "_test.rego") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		modules[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	return modules, nil
}

// revision is one compiled and prepared set of policies and data.
type revision struct {
	id         string
	decide     rego.PreparedEvalQuery
	approve    rego.PreparedEvalQuery
	cache      cache.InterQueryValueCache
	src        sources
	data       func() map[string]any // the full data document (Engine.Data)
	index      *ramIndex
	users      []string
	userGroups map[string][]string
	// accounts are accounts.json's, sorted by ID; nil without it.
	accounts []Account
	// defaultAccount is DefaultAccountID.
	defaultAccount string
	// environment is environmentQuery (EnvironmentOf).
	environment rego.PreparedEvalQuery
	// notify is org.json's notifications section.
	notify Notifications
}

// compiledData compiles the data files into the data document of the
// engine's store, {"ram": ..., "org": ...}, and the RAM index; st evaluates
// the request-independent Rego on the way.
func compiledData(s sources, st *stage) (map[string]any, ramData, Notifications, error) {
	var system map[string]json.RawMessage
	if err := json.Unmarshal(s.system, &system); err != nil {
		return nil, ramData{}, Notifications{}, fmt.Errorf("RAM system policies: %w", err)
	}
	org, err := compileOrg(s.org, s.orgName != "org.json")
	if err != nil {
		return nil, ramData{}, Notifications{}, err
	}
	var accounts []Account
	if s.accounts != nil {
		if accounts, err = parseAccounts(s.accounts); err != nil {
			return nil, ramData{}, Notifications{}, err
		}
	}
	ram, err := compileRAM(s, accounts, system, org.tags, st)
	if err != nil {
		return nil, ramData{}, Notifications{}, err
	}
	full := ram.full
	ram.full = func() map[string]any { return map[string]any{"ram": full(), "org": org.doc} }
	return map[string]any{"ram": ram.store, "org": org.doc}, ram, org.notify, nil
}

// compileModules parses and compiles Rego v1 modules in strict mode, with
// only deterministic built-ins: a decision depends on its input and the
// revision alone. fromIndex has rdsgate.ram.lookup answered by the engine's
// index (lookupFromIndex); without it the modules are as an OPA server
// evaluates them.
func compileModules(modules map[string][]byte, fromIndex bool) (*ast.Compiler, error) {
	parsed := make(map[string]*ast.Module, len(modules))
	for name, src := range modules {
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		parsed[name] = m
	}
	caps := ast.CapabilitiesForThisVersion()
	deterministic := caps.Builtins[:0:0]
	for _, b := range caps.Builtins {
		if !b.Nondeterministic {
			deterministic = append(deterministic, b)
		}
	}
	caps.Builtins = deterministic
	c := ast.NewCompiler().WithStrict(true).WithCapabilities(caps).
		WithBuiltins(customBuiltins())
	if fromIndex {
		c = c.WithStageAfterID(ast.StageResolveRefs, ast.CompilerStageDefinition{
			Name: "rdsgate.lookupFromIndex", MetricName: "rdsgate_lookup_from_index", Stage: lookupFromIndex,
		})
	}
	if c.Compile(parsed); c.Failed() {
		return nil, fmt.Errorf("compile policies: %w", c.Errors)
	}
	return c, nil
}

// lookupFromIndex makes every call of rdsgate.ram.lookup a call of the
// engine's builtin, which answers it from the statement index: the Rego
// definition stays the reference (the Rego tests and an OPA server evaluate
// it), and the engine's evaluation needs no `with` in its query, which
// costs every decision a fifth of its time.
func lookupFromIndex(c *ast.Compiler) *ast.Error {
	from := ast.MustParseRef(lookupRef)
	to := ast.MustParseRef(lookupBuiltin)
	for _, m := range c.Modules {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if call, ok := t.Value.(ast.Call); ok && len(call) > 0 {
				if ref, ok := call[0].Value.(ast.Ref); ok && ref.Equal(from) {
					call[0] = ast.NewTerm(to).SetLocation(call[0].Location)
				}
			}
			return false
		})
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if e.IsCall() && e.Operator().Equal(from) {
				terms := e.Terms.([]*ast.Term)
				terms[0] = ast.NewTerm(to).SetLocation(terms[0].Location)
			}
			return false
		})
	}
	return nil
}

// buildRevision compiles and prepares s. With the shipped modules the
// release decision takes RAM's and the org rules' answers from Go;
// otherwise it evaluates the modules as written.
func buildRevision(ctx context.Context, s sources, id string) (*revision, error) {
	compiler, err := compileModules(s.modules, true)
	if err != nil {
		return nil, err
	}
	st, err := newStage(ctx, compiler)
	if err != nil {
		return nil, err
	}
	data, ram, notify, err := compiledData(s, st)
	if err != nil {
		return nil, err
	}
	value, err := ast.InterfaceToValue(data)
	if err != nil {
		return nil, fmt.Errorf("convert policy data: %w", err)
	}
	obj, ok := value.(ast.Object)
	if !ok {
		return nil, errors.New("convert policy data: not an object")
	}
	store := inmem.NewFromASTObject(obj)
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		pq, err := rego.New(
			rego.Query(query),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.Function3(lookupDecl, ram.index.lookup),
		).PrepareForEval(ctx)
		if err != nil {
			return pq, fmt.Errorf("prepare %s: %w", query, err)
		}
		return pq, nil
	}
	rev := &revision{
		id:             id,
		src:            s,
		data:           ram.full,
		index:          ram.index,
		users:          ram.users,
		userGroups:     ram.userGroups,
		accounts:       ram.accounts,
		defaultAccount: ram.defaultAccount,
		notify:         notify,
		// Patterns come from the data only, so the cache is bounded by the
		// revision; unlimited (0) keeps every compiled glob and regex,
		// where OPA's own fallback cache holds 100 and thrashes on 10,000
		// users' patterns.
		cache: cache.NewInterQueryValueCache(ctx, &cache.Config{
			InterQueryBuiltinValueCache: cache.InterQueryBuiltinValueCacheConfig{MaxNumEntries: new(int)},
		}),
	}
	// The modules as written read rdsgate.ram.lookup from the index
	// (lookupFromIndex).
	if rev.decide, err = prepare(decideQuery); err != nil {
		return nil, err
	}
	if rev.approve, err = prepare(approveQuery); err != nil {
		return nil, err
	}
	if rev.environment, err = prepare(environmentQuery); err != nil {
		return nil, err
	}
	return rev, nil
}
