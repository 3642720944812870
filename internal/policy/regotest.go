package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/rdsgate/rdsgate/policies"
)

// TestReport is the outcome of the Rego unit tests: what `opa test
// --coverage` and `opa fmt --list` would say about policies/.
type TestReport struct {
	Passed   int
	Failures []string // one line per failing or erroring test
	// Coverage is the percentage of lines of the policy modules (not the
	// tests) that the tests evaluate.
	Coverage float64
	// NotCovered lists "file:line" for the lines the tests miss.
	NotCovered []string
	// Unformatted lists the .rego files that `opa fmt` would change.
	Unformatted []string
}

// OK reports whether every test passed, coverage reaches minCoverage and
// every file is formatted.
func (r TestReport) OK(minCoverage float64) bool {
	return len(r.Failures) == 0 && r.Coverage >= minCoverage && len(r.Unformatted) == 0
}

// String summarises the report in a few lines.
func (r TestReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rego tests: %d passed, %d failed; coverage %.1f%%\n", r.Passed, len(r.Failures), r.Coverage)
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "FAIL %s\n", f)
	}
	for _, f := range r.Unformatted {
		fmt.Fprintf(&b, "opa fmt would change %s\n", f)
	}
	return b.String()
}

// RunRegoTests runs the Rego unit tests (test_* rules of the _test.rego
// files) of the shipped modules and, when own is not nil, of the
// organisation's own (RDSGATE_POLICY_DIR: its files join the shipped ones,
// and one with a shipped file's path replaces it), over the data document
// data (nil: none; tests may mock it with `with`), with OPA's tester and
// coverage tracer, and checks every .rego file against OPA's formatter.
// The error reports a failure to run, not failing tests.
func RunRegoTests(ctx context.Context, own fs.FS, data map[string]any) (TestReport, error) {
	var report TestReport
	modules := map[string]*ast.Module{}
	if err := parseRego(policies.FS, policies.ExamplesDir, modules, &report); err != nil {
		return report, fmt.Errorf("rego tests: %w", err)
	}
	if own != nil {
		if err := parseRego(own, "", modules, &report); err != nil {
			return report, fmt.Errorf("rego tests: %w", err)
		}
	}
	return runRego(ctx, modules, data, report)
}

// parseRego parses every .rego file of fsys but those under skip into
// modules, noting in report the files opa fmt would change.
func parseRego(fsys fs.FS, skip string, modules map[string]*ast.Module, report *TestReport) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p == skip {
			return fs.SkipDir
		}
		if err != nil || d.IsDir() || path.Ext(p) != ".rego" {
			return err
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		formatted, err := format.SourceWithOpts(p, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("format %s: %w", p, err)
		}
		if !bytes.Equal(formatted, src) {
			report.Unformatted = append(report.Unformatted, p)
		}
		m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		modules[p] = m
		return nil
	})
}

// runRego runs the tests among modules and measures the coverage of the
// others.
func runRego(ctx context.Context, modules map[string]*ast.Module, data map[string]any, report TestReport) (TestReport, error) {
	if len(modules) == 0 {
		return report, errors.New("rego tests: no .rego files")
	}

	cov := cover.New()
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithEnablePrintStatements(true)).
		SetStore(inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))).
		SetCoverageQueryTracer(cov).
		SetModules(modules).
		SetTimeout(30 * time.Second)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return report, fmt.Errorf("rego tests: %w", err)
	}
	for res := range ch {
		switch {
		case res.Error != nil:
			report.Failures = append(report.Failures, fmt.Sprintf("%s.%s: %v", res.Package, res.Name, res.Error))
		case res.Fail:
			report.Failures = append(report.Failures, fmt.Sprintf("%s.%s (%s)", res.Package, res.Name, res.Location))
		case res.Skip:
			report.Failures = append(report.Failures, fmt.Sprintf("%s.%s is skipped (todo_ prefix)", res.Package, res.Name))
		default:
			report.Passed++
		}
	}
	sort.Strings(report.Failures)

	policyModules := map[string]*ast.Module{}
	for p, m := range modules {
		if !strings.HasSuffix(p, "_test.rego") {
			policyModules[p] = m
		}
	}
	cr := cov.Report(policyModules)
	report.Coverage = cr.Coverage
	for file, fr := range cr.Files {
		for _, rng := range fr.NotCovered {
			for row := rng.Start.Row; row <= rng.End.Row; row++ {
				report.NotCovered = append(report.NotCovered, fmt.Sprintf("%s:%d", file, row))
			}
		}
	}
	sort.Strings(report.NotCovered)
	return report, nil
}
