package ramaudit

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rdsgate/rdsgate/internal/policy"
)

// Bypasses counts the findings that are not expected.
func Bypasses(findings []Finding) int {
	n := 0
	for _, f := range findings {
		if !f.Expected {
			n++
		}
	}
	return n
}

// WriteJSONL writes one finding a line.
func WriteJSONL(w io.Writer, findings []Finding) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, f := range findings {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes the findings as an aligned table, for people.
func WriteTable(w io.Writer, findings []Finding) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tTYPE\tACTION\tVIA\tPOLICY\tRESOURCE\tCONDITIONS\tWHO\tEXPECTED")
	for _, f := range findings {
		who := ""
		switch {
		case f.PrincipalType == TypeGroup:
			who = "members: " + strings.Join(f.Members, ",")
		case f.PrincipalType == TypeRole:
			who = "assumable by: " + strings.Join(f.AssumableBy, ",")
		}
		expected := "BYPASS"
		if f.Expected {
			expected = "expected"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s#%d\t%s\t%s\t%s\t%s\n", f.Principal, f.PrincipalType,
			strings.TrimPrefix(f.Action, "rds:"), dash(f.Via), f.Policy, f.Statement, f.Resource,
			dash(f.Conditions), dash(who), expected)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// join joins non-empty parts with "; ".
func join(parts ...string) string {
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	return strings.Join(parts, "; ")
}

// describeAllow says when an Allow with these open conditions takes
// effect: "only from 203.0.113.0/24 and with MFA"; "" without conditions.
func describeAllow(conds []policy.Condition) string {
	if len(conds) == 0 {
		return ""
	}
	words := make([]string, len(conds))
	for i, c := range conds {
		words[i] = describe(c.Operator, c.Key, c.Values)
	}
	return "only " + strings.Join(words, " and ")
}

// describeLimits says which requests conditional Deny statements deny:
// "except not from 10.0.0.0/8 (DenyOffSite statement 1)".
func describeLimits(limits []policy.Grant) string {
	var out []string
	for _, l := range limits {
		words := make([]string, len(l.Conditions))
		for i, c := range l.Conditions {
			words[i] = describe(c.Operator, c.Key, c.Values)
		}
		out = append(out, fmt.Sprintf("except %s (%s statement %d)", strings.Join(words, " and "), l.Policy, l.Statement))
	}
	return strings.Join(out, "; ")
}

// describeTrustConditions says a trust statement's conditions in words.
func describeTrustConditions(block map[string]map[string]stringList) []string {
	var out []string
	for _, op := range sortedKeys(block) {
		for _, key := range sortedKeys(block[op]) {
			out = append(out, describe(op, strings.ToLower(key), block[op][key]))
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describe puts one condition in words: the common keys as people say
// them, any other as "KEY OPERATOR VALUES".
func describe(op, key string, values []string) string {
	vals := strings.Join(values, " or ")
	switch key {
	case "acs:sourceip":
		switch op {
		case "IpAddress":
			return "from " + vals
		case "NotIpAddress":
			return "not from " + vals
		}
	case "acs:mfapresent", "acs:securetransport":
		if op == "Bool" && len(values) == 1 {
			yes := strings.EqualFold(values[0], "true")
			switch {
			case key == "acs:mfapresent" && yes:
				return "with MFA"
			case key == "acs:mfapresent":
				return "without MFA"
			case yes:
				return "over HTTPS"
			default:
				return "over plain HTTP"
			}
		}
	case "acs:currenttime":
		switch op {
		case "DateLessThan", "DateLessThanEquals":
			return "before " + vals
		case "DateGreaterThan", "DateGreaterThanEquals":
			return "after " + vals
		}
	}
	return fmt.Sprintf("%s %s %s", key, op, vals)
}
