package policy

import "github.com/open-policy-agent/opa/v1/util"

// OrgRules are the org data's rules on a request's own fields
// (data.org.ticket_pattern and data.org.justification_min_length), for a
// form to show as hints before anything is filed.
type OrgRules struct {
	// TicketPattern is the regular expression a ticket must match ("" when
	// the org data sets none, which matches any ticket).
	TicketPattern string `json:"ticket_pattern"`
	// JustificationMinLength is the fewest characters a justification may
	// have, white space around it not counted.
	JustificationMinLength int `json:"justification_min_length"`
}

// OrgRules returns the serving revision's OrgRules. It reads them from the
// revision's org data file, which loading has already checked; a file it
// cannot read (it can, once loaded) gives the zero rules.
func (e *Engine) OrgRules() OrgRules {
	var r OrgRules
	// util.Unmarshal reads JSON and YAML alike (org.json or org.yaml).
	_ = util.Unmarshal(e.cur.Load().src.org, &r)
	return r
}
