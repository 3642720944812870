package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gobwas/glob"
	"github.com/open-policy-agent/opa/v1/util"
)

// orgFile is org.json (or org.yaml): the organisation's rules as data.
type orgFile struct {
	DefaultEnvironment     string                       `json:"default_environment"`
	EnvironmentTag         string                       `json:"environment_tag"`
	InstanceTags           map[string]map[string]string `json:"instance_tags"`
	EnvironmentPatterns    []environmentPattern         `json:"environment_patterns"`
	Environments           map[string]environmentRules  `json:"environments"`
	FreezeWindows          []freezeWindow               `json:"freeze_windows"`
	BreakGlass             breakGlass                   `json:"break_glass"`
	JustificationMinLength int                          `json:"justification_min_length"`
	TicketPattern          string                       `json:"ticket_pattern"`
	MaxPendingRequests     int                          `json:"max_pending_requests"`
	Notifications          Notifications                `json:"notifications"`
}

type environmentPattern struct {
	Pattern     string `json:"pattern"`
	Environment string `json:"environment"`
}

type environmentRules struct {
	RequiredApprovals int           `json:"required_approvals"`
	Approvers         []Requirement `json:"approvers"`
}

type freezeWindow struct {
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Reason       string    `json:"reason"`
	Environments []string  `json:"environments"`
}

type breakGlass struct {
	Approvers []Requirement `json:"approvers"`
}

// orgData is org.json compiled for rdsgate.org (data.org).
type orgData struct {
	doc    map[string]any
	tags   map[string]map[string]string
	notify Notifications
}

// compileOrg checks the org rules and compiles them for rdsgate.org: times
// become nanoseconds, lists are never null. Every environment named anywhere
// must have rules, patterns and the ticket pattern must compile, and a freeze
// must end after it starts.
func compileOrg(raw []byte, yamlSyntax bool) (orgData, error) {
	if yamlSyntax {
		var generic any
		if err := util.Unmarshal(raw, &generic); err != nil {
			return orgData{}, fmt.Errorf("org: %w", err)
		}
		var err error
		if raw, err = json.Marshal(generic); err != nil {
			return orgData{}, fmt.Errorf("org: %w", err)
		}
	}
	var f orgFile
	if err := decodeStrict(raw, &f); err != nil {
		return orgData{}, fmt.Errorf("org: %w", err)
	}
	if err := f.validate(); err != nil {
		return orgData{}, fmt.Errorf("org: %w", err)
	}

	// Each environment carries its two approval paths and the freeze windows
	// that concern it, with the sentences the decision uses.
	bgSummary := describeRequirements(f.BreakGlass.Approvers)
	envs := make(map[string]any, len(f.Environments))
	for name, env := range f.Environments {
		path := approvalPath(name, env.RequiredApprovals, env.Approvers)
		path["break_glass"] = approvalPath(name, env.RequiredApprovals, mergeRequirements(env.Approvers, f.BreakGlass.Approvers))
		freezes := []any{}
		for _, w := range f.FreezeWindows {
			if len(w.Environments) > 0 && !slices.Contains(w.Environments, name) {
				continue
			}
			start, end := w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339)
			freezes = append(freezes, map[string]any{
				"start_ns": w.Start.UnixNano(),
				"end_ns":   w.End.UnixNano(),
				"reason":   w.Reason,
				"deny_note": fmt.Sprintf("org: change freeze %q (%s to %s) is in effect for %s; only a break-glass request may proceed",
					w.Reason, start, end, name),
				"break_glass_note": fmt.Sprintf("org: break glass during change freeze %q adds %s", w.Reason, bgSummary),
			})
		}
		path["freezes"] = freezes
		envs[name] = path
	}
	// The instances the org data names get their environment now: by tag,
	// else by a pattern without wildcards (an exact name) that no earlier
	// pattern matches. Other instances try the remaining patterns in order.
	instances := map[string]any{}
	patterns := []any{}
	var earlier []*glob.Pattern
	for _, p := range f.EnvironmentPatterns {
		g := glob.MustCompile(p.Pattern)
		shadowed := false
		for _, e := range earlier {
			shadowed = shadowed || e.Match(p.Pattern)
		}
		_, dup := instances[p.Pattern]
		switch {
		case dup:
		case !shadowed && glob.QuoteMeta(p.Pattern) == p.Pattern:
			instances[p.Pattern] = map[string]any{"environment": p.Environment, "source": "its name"}
		default:
			earlier = append(earlier, g)
			patterns = append(patterns, map[string]any{
				"pattern": p.Pattern, "environment": p.Environment, "source": "name pattern " + p.Pattern,
			})
		}
	}
	if f.EnvironmentTag != "" {
		for instance, kv := range f.InstanceTags {
			if env, ok := kv[f.EnvironmentTag]; ok {
				instances[instance] = map[string]any{"environment": env, "source": "tag " + f.EnvironmentTag}
			}
		}
	}
	// any_pattern is the patterns as one glob.match alternative, {p1,p2},
	// which matches exactly when one of them does; "*" when there are none
	// or a pattern has a character that would change meaning inside braces.
	anyPattern := "*"
	names := make([]string, len(patterns))
	for i, p := range patterns {
		names[i] = p.(map[string]any)["pattern"].(string)
	}
	if len(names) > 0 && !strings.ContainsAny(strings.Join(names, ""), `{},\`) {
		anyPattern = "{" + strings.Join(names, ",") + "}"
	}
	pendingLimit := int64(f.MaxPendingRequests)
	if pendingLimit == 0 {
		pendingLimit = noPendingLimit
	}
	return orgData{
		tags:   f.InstanceTags,
		notify: f.Notifications,
		doc: map[string]any{
			"instances":            instances,
			"instance_tags":        instanceTags(f.InstanceTags),
			"environment_patterns": patterns,
			"any_pattern":          anyPattern,
			"default": map[string]any{
				"environment": f.DefaultEnvironment, "source": "the default for unknown instances",
			},
			"environments":             envs,
			"break_glass":              map[string]any{"approvers": requirementsAny(f.BreakGlass.Approvers), "summary": bgSummary},
			"justification_min_length": f.JustificationMinLength,
			"ticket_pattern":           f.TicketPattern,
			"max_pending_requests":     f.MaxPendingRequests,
			"pending_limit":            pendingLimit,
		},
	}, nil
}

// instanceTags is org.json's instance_tags as data.org.instance_tags: an
// empty object, not null, when there are none.
func instanceTags(in map[string]map[string]string) map[string]any {
	out := make(map[string]any, len(in))
	for instance, kv := range in {
		tags := make(map[string]any, len(kv))
		for k, v := range kv {
			tags[k] = v
		}
		out[instance] = tags
	}
	return out
}

// noPendingLimit is data.org.pending_limit when max_pending_requests is 0:
// more pending requests than anyone has.
const noPendingLimit = 1 << 53

func (f orgFile) validate() error {
	if len(f.Environments) == 0 {
		return errors.New("environments: at least one environment is required")
	}
	known := func(env, where string) error {
		if _, ok := f.Environments[env]; !ok {
			return fmt.Errorf("%s: environment %q has no rules in environments", where, env)
		}
		return nil
	}
	if err := known(f.DefaultEnvironment, "default_environment"); err != nil {
		return err
	}
	names := make([]string, 0, len(f.Environments))
	for name := range f.Environments {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rules := f.Environments[name]
		if rules.RequiredApprovals < 0 {
			return fmt.Errorf("environments.%s: required_approvals must not be negative", name)
		}
		if err := validRequirements(rules.Approvers, "environments."+name+".approvers"); err != nil {
			return err
		}
	}
	for i, p := range f.EnvironmentPatterns {
		where := fmt.Sprintf("environment_patterns[%d]", i)
		if _, err := glob.Compile(p.Pattern); err != nil {
			return fmt.Errorf("%s: pattern %q: %w", where, p.Pattern, err)
		}
		if err := known(p.Environment, where); err != nil {
			return err
		}
	}
	for instance, kv := range f.InstanceTags {
		// RAM condition keys ignore case (rds:resourcetag/<lower-cased
		// key>): two keys one apart in case would race for one value.
		seen := make(map[string]string, len(kv))
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			if other, dup := seen[strings.ToLower(k)]; dup {
				return fmt.Errorf("instance_tags.%s: tags %q and %q differ only in case, and RAM condition keys ignore case", instance, other, k)
			}
			seen[strings.ToLower(k)] = k
		}
	}
	if f.EnvironmentTag != "" {
		for instance, kv := range f.InstanceTags {
			if env, ok := kv[f.EnvironmentTag]; ok {
				if err := known(env, "instance_tags."+instance); err != nil {
					return err
				}
			}
		}
	}
	for i, w := range f.FreezeWindows {
		where := fmt.Sprintf("freeze_windows[%d]", i)
		if !w.End.After(w.Start) {
			return fmt.Errorf("%s: end must be after start", where)
		}
		for _, env := range w.Environments {
			if err := known(env, where); err != nil {
				return err
			}
		}
	}
	if err := validRequirements(f.BreakGlass.Approvers, "break_glass.approvers"); err != nil {
		return err
	}
	if f.JustificationMinLength < 0 || f.MaxPendingRequests < 0 {
		return errors.New("justification_min_length and max_pending_requests must not be negative")
	}
	if _, err := regexp.Compile(f.TicketPattern); err != nil {
		return fmt.Errorf("ticket_pattern: %w", err)
	}
	return f.Notifications.validate(known)
}

func validRequirements(reqs []Requirement, where string) error {
	for i, r := range reqs {
		if r.Group == "" || r.Count < 1 {
			return fmt.Errorf("%s[%d]: a group and a count of at least 1 are required", where, i)
		}
	}
	return nil
}

// approvalPath is one way through environment env's approval, as
// rdsgate.org reads it: the requirements, the number of approvals (the
// configured count or the sum of the requirements, whichever is larger), a
// summary and the sentence for the reasons.
func approvalPath(env string, configured int, reqs []Requirement) map[string]any {
	total := 0
	for _, r := range reqs {
		total += r.Count
	}
	required, summary := max(configured, total), describeRequirements(reqs)
	return map[string]any{
		"approvers":          requirementsAny(reqs),
		"required_approvals": required,
		"summary":            summary,
		"note":               fmt.Sprintf("org: %s needs %d approval(s): %s", env, required, summary),
	}
}

// mergeRequirements appends extra to reqs, adding up the counts of
// requirements that name the same group, in order of first appearance.
func mergeRequirements(reqs, extra []Requirement) []Requirement {
	out := slices.Clone(reqs)
	for _, r := range extra {
		if i := slices.IndexFunc(out, func(o Requirement) bool { return o.Group == r.Group }); i >= 0 {
			out[i].Count += r.Count
		} else {
			out = append(out, r)
		}
	}
	return out
}

// describeRequirements reads requirements as "1 from dba and 1 from
// security".
func describeRequirements(reqs []Requirement) string {
	if len(reqs) == 0 {
		return "no particular group"
	}
	parts := make([]string, len(reqs))
	for i, r := range reqs {
		parts[i] = fmt.Sprintf("%d from %s", r.Count, r.Group)
	}
	return strings.Join(parts, " and ")
}

func requirementsAny(reqs []Requirement) []any {
	out := make([]any, len(reqs))
	for i, r := range reqs {
		out[i] = map[string]any{"group": r.Group, "count": r.Count}
	}
	return out
}
