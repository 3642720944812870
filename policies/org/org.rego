# METADATA
# title: Organisation rules
# description: |
#   The organisation's rules for releasing a public endpoint, read from
#   data.org (the compiled org.json): which environment an instance belongs
#   to, who must approve, change freezes and break glass, and the hygiene of
#   the request itself (justification, ticket, pending requests).
#
#   The compiler has done at load time whatever does not depend on the
#   request: the environment of every instance it can name (by tag or exact
#   name; only other instances try the wildcard patterns), each
#   environment's approval paths (the usual one and the break-glass one) with
#   their sentences, and the freeze windows that concern each environment.
#   A request that breaks no rule is recognised by one rule (`clean`); the
#   sentences of `deny` are built only for a request that breaks some.
package rdsgate.org

# now_ns is the request's time; without a valid time every freeze would be
# skipped, so `deny` refuses such a request instead.
now_ns := time.parse_rfc3339_ns(input.context.current_time)

# placement is the instance's environment and how it was found: its tag
# first, then its name (exact names, then the patterns in order), then the
# default (production in the examples: fail safe). any_pattern, all the
# patterns as one glob.match alternative, spares most instances the scan.
placement := p if {
	p := data.org.instances[input.request.db_instance_id]
} else := p if {
	glob.match(data.org.any_pattern, null, input.request.db_instance_id)
	p := [rule |
		some rule in data.org.environment_patterns
		glob.match(rule.pattern, null, input.request.db_instance_id)
	][0]
} else := data.org.default

environment := placement.environment

# tags are the instance's tags from the org data, {} when it has none: for
# the organisation's own rules (package rdsgate.custom).
tags := object.get(data.org.instance_tags, input.request.db_instance_id, {})

rules := data.org.environments[placement.environment]

# freeze is the first change-freeze window of this environment in effect now;
# undefined when there is none.
freeze := [f |
	some f in rules.freezes
	f.start_ns <= now_ns
	now_ns < f.end_ns
][0]

break_glass if {
	input.request.break_glass == true
	freeze
}

# approval is the path this request takes: the break-glass one during a
# freeze, the usual one otherwise.
approval := rules.break_glass if {
	break_glass
} else := rules if {
	rules
} else := {"approvers": [], "required_approvals": 0, "summary": "no particular group", "note": "org: no approvals are configured"}

requirements := approval.approvers

required_approvals := approval.required_approvals

# answer is what the release decision reads of the org rules: the
# instance's environment, the approval path, the broken rules' sentences and
# the notes that explain an allowed request.
answer := {
	"environment": environment,
	"approval": {"approvers": approval.approvers, "required_approvals": approval.required_approvals},
	"denials": denials,
	"notes": notes,
}

# denials are the sentences of deny, sorted: [] for a clean request.
denials := [] if {
	clean
} else := [msg | some msg in deny]

# clean holds when the request breaks none of the rules below: `deny` is
# empty. It is checked in one rule, on the fields the engine always sends; a
# request that fails it, or lacks a field, gets its sentences from `deny`.
clean if {
	now_ns
	rules
	count(trim_space(input.request.justification)) >= data.org.justification_min_length
	regex.match(data.org.ticket_pattern, input.request.ticket)
	input.pending_requests < data.org.pending_limit
	not frozen
}

frozen if {
	not input.request.break_glass == true
	freeze
}

# deny holds the org rules this request breaks, one sentence each.
deny contains "org: the request has no valid current_time (RFC 3339), so change freezes cannot be checked" if {
	not now_ns
}

deny contains sprintf("org: environment %s has no approval rules in the org data", [environment]) if {
	not rules
}

deny contains f.deny_note if {
	not input.request.break_glass == true
	some f in rules.freezes
	f.start_ns <= now_ns
	now_ns < f.end_ns
}

deny contains sprintf("org: justification shorter than %d characters", [data.org.justification_min_length]) if {
	count(trim_space(object.get(input.request, "justification", ""))) < data.org.justification_min_length
}

deny contains sprintf("org: ticket %q does not match the required pattern %s", [ticket, data.org.ticket_pattern]) if {
	ticket := object.get(input.request, "ticket", "")
	not regex.match(data.org.ticket_pattern, ticket)
}

deny contains sprintf("org: %s already has %d pending requests (limit %d)", [input.principal.subject, pending, data.org.max_pending_requests]) if {
	pending := object.get(input, "pending_requests", 0)
	pending >= data.org.pending_limit
}

# notes explain an allowed request's approval path.
notes := [
	sprintf("org: %s is in environment %s (by %s)", [input.request.db_instance_id, p.environment, p.source]),
	approval.note,
	freeze.break_glass_note,
] if {
	break_glass
	p := placement
} else := [
	sprintf("org: %s is in environment %s (by %s)", [input.request.db_instance_id, p.environment, p.source]),
	approval.note,
] if {
	p := placement
}
