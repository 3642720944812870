package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// fleetScanTimeout bounds one scan of the "Public endpoints" page: a big
// fleet takes tens of seconds within the accounts' quotas.
const fleetScanTimeout = 3 * time.Minute

// fleetData is the "Public endpoints" page: the scan's filters, what it
// found, and the bulk filing form over it.
type fleetData struct {
	// Configured: a FleetScanner is set; without one the page says so.
	Configured bool
	Filter     FleetFilter
	// Accounts, Regions and Environments are the filters' choices.
	Accounts     []policy.Account
	Regions      []string
	Environments []string
	// Scanned: a scan ran (or the rows came back from a refused filing).
	Scanned bool
	// Took is how long the scan took, in words.
	Took string
	// Problem is why the scan could not run at all.
	Problem  string
	Rows     []fleetRow
	Failures []failureGroup
	// Form holds the filing's fields; Errors their problems (and
	// "targets": a problem with the selection as a whole).
	Form   bulkForm
	Errors map[string]string
	// Refused says that a filing was refused and nothing was filed.
	Refused string
	Hints   formHints
}

// fleetRow is one public endpoint on the page.
type fleetRow struct {
	request.Target
	// Value is the endpoint as the form's target field carries it (JSON).
	Value string
	// N numbers the rows from 1.
	N           int
	AccountName string
	Environment string
	Prod        bool
	Checked     bool
	// Errors are the problems a refused filing found with this endpoint.
	Errors []string
}

// failureGroup is the failed parts of a scan in one account.
type failureGroup struct {
	AccountID, AccountName string
	// Whole is the failure of the account as a whole (its role could not
	// be assumed): nothing of it was scanned.
	Whole    string
	Failures []FleetFailure
}

// bulkForm is the bulk filing's own fields.
type bulkForm struct {
	Justification, Ticket string
	BreakGlass            bool
}

// environmentOf is a Simulator that also names an instance's environment
// without a whole decision (*policy.Engine does): the page shows it.
type environmentOf interface {
	EnvironmentOf(accountID, regionID, instanceID string) string
}

// policyData is a Simulator that also returns its data (*policy.Engine
// does): the environment filter offers org.json's environments.
type policyData interface {
	Data() (map[string]any, error)
}

// accounts are the configured accounts (nil: none, or no lister).
func (s *Server) accounts() []policy.Account {
	if s.b.Accounts == nil {
		return nil
	}
	return s.b.Accounts.Accounts()
}

// environments are org.json's environment names, sorted; nil when the
// policy does not say.
func (s *Server) environments() []string {
	pd, ok := s.d.Policy.(policyData)
	if !ok {
		return nil
	}
	data, err := pd.Data()
	if err != nil {
		return nil
	}
	org, _ := data["org"].(map[string]any)
	envs, _ := org["environments"].(map[string]any)
	out := make([]string, 0, len(envs))
	for name := range envs {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// newFleetData is the page's frame: the filters and their choices.
func (s *Server) newFleetData(c echo.Context, f FleetFilter) fleetData {
	d := fleetData{Configured: s.b.Fleet != nil, Filter: f, Accounts: s.accounts(), Environments: s.environments(),
		Errors: map[string]string{}}
	seen := map[string]bool{}
	for _, a := range d.Accounts {
		for _, r := range a.Regions {
			if !seen[r] {
				seen[r] = true
				d.Regions = append(d.Regions, r)
			}
		}
	}
	sort.Strings(d.Regions)
	d.Hints = s.hints(c, s.orgRules())
	return d
}

// fleetPage is "Public endpoints": a POST (CSRF-checked: a scan spends
// the accounts' quotas, so no link or cross-site page may start one) scans
// the accounts (filtered by account, region and environment) and lists
// every public endpoint found, each with a checkbox, to file as one bulk
// request. One scan runs at a time on a server; another gets 429.
func (s *Server) fleetPage(c echo.Context) error {
	f := FleetFilter{AccountID: strings.TrimSpace(c.FormValue("account")), RegionID: strings.TrimSpace(c.FormValue("region")),
		Environment: strings.TrimSpace(c.FormValue("env"))}
	d := s.newFleetData(c, f)
	if c.Request().Method != http.MethodPost || !d.Configured {
		return s.renderFleet(c, http.StatusOK, d)
	}
	select {
	case s.scanning <- struct{}{}:
		defer func() { <-s.scanning }()
	default:
		d.Problem = s.tr(c, "Another scan is running on this server; try again when it has finished.")
		return s.renderFleet(c, http.StatusTooManyRequests, d)
	}
	s.scan(c, &d)
	return s.renderFleet(c, http.StatusOK, d)
}

func (s *Server) renderFleet(c echo.Context, status int, d fleetData) error {
	return s.render(c, status, "fleet", page{Title: s.tr(c, "Public endpoints"), Nav: "fleet", Data: d})
}

// scan runs the scan of d.Filter and lays out what it found.
func (s *Server) scan(c echo.Context, d *fleetData) {
	ctx, cancel := context.WithTimeout(c.Request().Context(), fleetScanTimeout)
	defer cancel()
	start := time.Now()
	res, err := s.b.Fleet.Scan(ctx, d.Filter)
	d.Scanned = true
	d.Took = s.tr(c, "The scan took %s.", time.Since(start).Round(100*time.Millisecond).String())
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			d.Problem = s.tr(c, "The scan did not finish within %s; narrow it to one account or region.", fleetScanTimeout.String())
		default:
			d.Problem = s.tr(c, "The scan could not run: %s", err.Error())
		}
		if len(res.Targets) == 0 {
			return
		}
	}
	targets := slices.Clone(res.Targets)
	slices.SortFunc(targets, request.CompareTargets)
	d.Rows = s.fleetRows(targets, true)
	d.Failures = s.failureGroups(res.Failures)
}

// fleetRows lays out targets as the page's rows.
func (s *Server) fleetRows(targets []request.Target, checked bool) []fleetRow {
	names := map[string]string{}
	for _, a := range s.accounts() {
		names[a.ID] = a.Name
	}
	envOf, _ := s.d.Policy.(environmentOf)
	rows := make([]fleetRow, len(targets))
	for i, t := range targets {
		raw, _ := json.Marshal(t) // strings only; cannot fail
		r := fleetRow{Target: t, Value: string(raw), N: i + 1, AccountName: names[t.AccountID], Checked: checked}
		if r.AccountName == t.AccountID {
			r.AccountName = ""
		}
		if envOf != nil {
			r.Environment = envOf.EnvironmentOf(t.AccountID, t.RegionID, t.DBInstanceID)
			r.Prod = isProduction(r.Environment)
		}
		rows[i] = r
	}
	return rows
}

// failureGroups gathers a scan's failures by account, accounts in order.
func (s *Server) failureGroups(fs []FleetFailure) []failureGroup {
	if len(fs) == 0 {
		return nil
	}
	names := map[string]string{}
	for _, a := range s.accounts() {
		names[a.ID] = a.Name
	}
	byAccount := map[string]*failureGroup{}
	var order []string
	for _, f := range fs {
		g, ok := byAccount[f.AccountID]
		if !ok {
			g = &failureGroup{AccountID: f.AccountID, AccountName: names[f.AccountID]}
			if g.AccountName == f.AccountID {
				g.AccountName = ""
			}
			byAccount[f.AccountID] = g
			order = append(order, f.AccountID)
		}
		if f.RegionID == "" && f.InstanceID == "" {
			g.Whole = f.Message
			continue
		}
		g.Failures = append(g.Failures, f)
	}
	sort.Strings(order)
	out := make([]failureGroup, len(order))
	for i, id := range order {
		out[i] = *byAccount[id]
	}
	return out
}

// targetField matches a bulk validation error's field: targets[3].region_id.
var targetField = regexp.MustCompile(`^targets\[(\d+)\](?:\.(\w+))?$`)

// fileBulk files the endpoints picked on the "Public endpoints" page as
// one bulk request (lifecycle.Service.FileBulk) and shows its page. The
// ticket and justification are checked against the org rules first, so
// that a typo does not file a request every target of which is denied; a
// refused filing shows the page again with the picked endpoints and every
// problem, and files nothing. A bulk request the policy denies is filed,
// and its page shows each target's reasons.
func (s *Server) fileBulk(c echo.Context) error {
	form := bulkForm{Justification: c.FormValue("justification"), Ticket: strings.TrimSpace(c.FormValue("ticket")),
		BreakGlass: c.FormValue("break_glass") != ""}
	f := FleetFilter{AccountID: c.FormValue("account"), RegionID: c.FormValue("region"), Environment: c.FormValue("env")}
	values, err := c.FormParams()
	if err != nil {
		return err
	}
	d := s.newFleetData(c, f)
	d.Scanned, d.Form = true, form
	var targets []request.Target
	for _, v := range values["target"] {
		var t request.Target
		if err := json.Unmarshal([]byte(v), &t); err != nil {
			d.Errors["targets"] = s.tr(c, "The list of endpoints was damaged on its way; scan again.")
			continue
		}
		targets = append(targets, t)
	}
	d.Rows = s.fleetRows(targets, true)
	refuse := func() error {
		d.Refused = s.tr(c, "Nothing was filed. Fix the problems marked below, then file again.")
		return s.renderFleet(c, http.StatusUnprocessableEntity, d)
	}
	switch {
	case len(d.Errors) > 0:
		return refuse()
	case len(targets) == 0:
		d.Errors["targets"] = s.tr(c, "Select at least one endpoint to release.")
		return refuse()
	case len(targets) > request.MaxTargets:
		d.Errors["targets"] = s.tr(c, "Select at most %d endpoints: one bulk request releases at most that many.", request.MaxTargets)
		return refuse()
	}
	// The org rules on the ticket and the justification hold for every
	// target alike: ask about the first.
	t0 := targets[0]
	v, err := s.check(c, requestForm{RegionID: t0.RegionID, DBInstanceID: t0.DBInstanceID, ConnectionString: t0.ConnectionString,
		NetworkType: t0.NetworkType, AccountID: t0.AccountID, Justification: form.Justification, Ticket: form.Ticket, BreakGlass: form.BreakGlass})
	if err != nil {
		return err
	}
	for _, p := range v.Fields {
		if p.Field == "justification" || p.Field == "ticket" {
			d.Errors[p.Field] = p.Message
		}
	}
	if len(d.Errors) > 0 {
		return refuse()
	}
	r, err := s.d.Service.FileBulk(c.Request().Context(), pageActor(c, userOf(c)),
		request.BulkSpec{Targets: targets, Justification: form.Justification, Ticket: form.Ticket}, form.BreakGlass)
	if err != nil {
		if den, ok := lifecycle.IsDenied(err); ok && den.Request != nil {
			return c.Redirect(http.StatusSeeOther, "/requests/"+den.Request.ID.String()+"?filed=1")
		}
		ves := request.Fields(err)
		if len(ves) == 0 {
			return err
		}
		for _, ve := range ves {
			m := targetField.FindStringSubmatch(ve.Field)
			if m == nil {
				d.Errors[ve.Field] = s.fieldMessage(c, ve)
				continue
			}
			i, _ := strconv.Atoi(m[1])
			if i < len(d.Rows) {
				msg := s.fieldMessage(c, ve)
				if m[2] != "" {
					msg = m[2] + ": " + msg
				}
				d.Rows[i].Errors = append(d.Rows[i].Errors, msg)
			}
		}
		if _, ok := d.Errors["targets"]; !ok {
			d.Errors["targets"] = s.tr(c, "Some endpoints cannot be filed: see the marked rows.")
		}
		return refuse()
	}
	return c.Redirect(http.StatusSeeOther, "/requests/"+r.ID.String()+"?filed=1")
}
