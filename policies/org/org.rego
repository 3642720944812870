# METADATA
# title: Organisation rules
# description: |
#   The organisation's rules for releasing a public endpoint, read from
#   data.org (the compiled org.json): which environment an instance belongs
#   to, who must approve, change freezes and break glass, and the hygiene of
#   the request itself (justification, ticket, pending requests).
#
#   The compiler has worked out each environment's approval paths (the usual
#   one and the break-glass one: requirements, number of approvals and a
#   summary), and split the name patterns without wildcards into a lookup.
package rdsgate.org

# now_ns is the request's time; without a valid time every freeze would be
# skipped, so `deny` refuses such a request instead.
now_ns := time.parse_rfc3339_ns(input.context.current_time)

# environment: the instance's tag first, then its name (exact names, then
# the patterns in order), then the default (production in the examples:
# fail safe).
environment := env if {
	env := data.org.instance_tags[input.request.db_instance_id][data.org.environment_tag]
} else := env if {
	env := data.org.environment_names[input.request.db_instance_id]
} else := env if {
	env := pattern_matches[0].environment
} else := data.org.default_environment

pattern_matches := [rule |
	some rule in data.org.environment_patterns
	glob.match(rule.pattern, null, input.request.db_instance_id)
]

environment_source := sprintf("tag %s", [data.org.environment_tag]) if {
	data.org.instance_tags[input.request.db_instance_id][data.org.environment_tag]
} else := "its name" if {
	data.org.environment_names[input.request.db_instance_id]
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
	freezes[0]
}

# approval is the path this request takes: the break-glass one during a
# freeze, the usual one otherwise.
approval := rules.break_glass if {
	break_glass
} else := rules if {
	rules
} else := {"approvers": [], "required_approvals": 0, "summary": "no particular group"}

requirements := approval.approvers

required_approvals := approval.required_approvals

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
	count(trim_space(object.get(input.request, "justification", ""))) < data.org.justification_min_length
}

deny contains sprintf("org: ticket %q does not match the required pattern %s", [ticket, data.org.ticket_pattern]) if {
	data.org.ticket_pattern != ""
	ticket := object.get(input.request, "ticket", "")
	not regex.match(data.org.ticket_pattern, ticket)
}

deny contains sprintf("org: %s already has %d pending requests (limit %d)", [input.principal.subject, pending, data.org.max_pending_requests]) if {
	data.org.max_pending_requests > 0
	pending := object.get(input, "pending_requests", 0)
	pending >= data.org.max_pending_requests
}

# notes explain an allowed request's approval path.
notes := [
	sprintf("org: %s is in environment %s (by %s)", [input.request.db_instance_id, environment, environment_source]),
	sprintf("org: %s needs %d approval(s): %s", [environment, required_approvals, approval.summary]),
	sprintf("org: break glass during change freeze %q adds %s", [freezes[0].reason, data.org.break_glass.summary]),
] if {
	break_glass
} else := [
	sprintf("org: %s is in environment %s (by %s)", [input.request.db_instance_id, environment, environment_source]),
	sprintf("org: %s needs %d approval(s): %s", [environment, required_approvals, approval.summary]),
]
