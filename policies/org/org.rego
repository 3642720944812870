# METADATA
# title: Organisation rules
# description: |
#   The organisation's rules for releasing a public endpoint, read from
#   data.org (the compiled org.json): which environment an instance belongs
#   to, who must approve, change freezes and break glass, and the hygiene of
#   the request itself (justification, ticket, pending requests).
package rdsgate.org

instance := input.request.db_instance_id

# now_ns is the request's time; without a valid time every freeze would be
# skipped, so `deny` refuses such a request instead.
now_ns := time.parse_rfc3339_ns(input.context.current_time)

# environment: an instance's tag first, then the first matching name
# pattern, then the default (production in the examples: fail safe).
environment := env if {
	env := data.org.instance_tags[instance][data.org.environment_tag]
} else := env if {
	env := pattern_matches[0].environment
} else := data.org.default_environment

pattern_matches := [rule |
	some rule in data.org.environment_patterns
	glob.match(rule.pattern, null, instance)
]

environment_source := sprintf("tag %s=%s", [data.org.environment_tag, environment]) if {
	data.org.instance_tags[instance][data.org.environment_tag]
} else := sprintf("name pattern %s", [pattern_matches[0].pattern]) if {
	pattern_matches[0]
} else := "the default for unknown instances"

rules := data.org.environments[environment]

# freezes lists the change-freeze windows in effect for this environment.
freezes := [f |
	some f in data.org.freeze_windows
	f.start_ns <= now_ns
	now_ns < f.end_ns
	freeze_applies(f)
]

freeze_applies(f) if count(f.environments) == 0

freeze_applies(f) if environment in f.environments

break_glass if {
	input.request.break_glass == true
	count(freezes) > 0
}

# requirements are the AND-composed approver requirements: the
# environment's, plus the break-glass approvers during a freeze.
requirements := merge(array.concat(rules.approvers, data.org.break_glass.approvers)) if {
	break_glass
} else := rules.approvers if {
	rules
} else := []

required_approvals := max([object.get(rules, "required_approvals", 0), sum([r.count | some r in requirements])])

# merge adds up the counts of requirements naming the same group, keeping the
# order in which groups first appear.
merge(reqs) := [{"group": g, "count": sum([r.count | some r in reqs; r.group == g])} |
	some i, r in reqs
	g := r.group
	not seen_before(reqs, i, g)
]

seen_before(reqs, i, g) if {
	some j, r in reqs
	j < i
	r.group == g
}

justification := trim_space(object.get(input.request, "justification", ""))

ticket := object.get(input.request, "ticket", "")

pending := object.get(input, "pending_requests", 0)

# deny holds the org rules this request breaks, one sentence each.
deny contains "org: the request has no valid current_time (RFC 3339), so change freezes cannot be checked" if {
	not now_ns
}

deny contains sprintf("org: environment %s has no approval rules in the org data", [environment]) if {
	not rules
}

deny contains sprintf("org: change freeze %q (%s to %s) is in effect for %s; only a break-glass request may proceed", [f.reason, f.start, f.end, environment]) if {
	not input.request.break_glass == true
	some f in freezes
}

deny contains sprintf("org: justification shorter than %d characters", [data.org.justification_min_length]) if {
	count(justification) < data.org.justification_min_length
}

deny contains sprintf("org: ticket %q does not match the required pattern %s", [ticket, data.org.ticket_pattern]) if {
	data.org.ticket_pattern != ""
	not regex.match(data.org.ticket_pattern, ticket)
}

deny contains sprintf("org: %s already has %d pending requests (limit %d)", [input.principal.subject, pending, data.org.max_pending_requests]) if {
	data.org.max_pending_requests > 0
	pending >= data.org.max_pending_requests
}

# notes explain an allowed request's approval path.
notes := array.concat(
	[
		sprintf("org: %s is in environment %s (%s)", [instance, environment, environment_source]),
		sprintf("org: %s needs %d approval(s): %s", [environment, required_approvals, describe(requirements)]),
	],
	[sprintf("org: break glass during change freeze %q adds %s", [f.reason, describe(data.org.break_glass.approvers)]) |
		break_glass
		some f in freezes
	],
)

describe(reqs) := "any approver" if {
	count(reqs) == 0
} else := concat(" and ", [sprintf("%d from %s", [r.count, r.group]) | some r in reqs])
