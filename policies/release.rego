# METADATA
# title: Release decision
# description: |
#   The entry point for a request to release an instance's public endpoint:
#   data.rdsgate.release.decision combines the RAM verdict (rdsgate.ram) with
#   the organisation's rules (rdsgate.org). The request is allowed only when
#   RAM allows it and no org rule denies it; an allowed request still waits
#   for required_approvals approvals meeting approver_requirements.
package rdsgate.release

import data.rdsgate.custom
import data.rdsgate.org
import data.rdsgate.ram

decision := extend(compose(input.request, ram.answer, org.answer))

# compose(request, r, o) is the decision on request from RAM's answer r
# (rdsgate.ram.answer) and the org rules' answer o (rdsgate.org.answer).
# The reasons of an allowed request are RAM's verdict and its approval path;
# those of a denied one are what denies it: RAM's verdict when RAM denies,
# and the rules it breaks, sorted. It is a function of the two
# answers alone, and the usual case is decided by its first body.
compose(request, r, o) := {
	"allow": true,
	"reasons": array.concat(r.reasons, o.notes),
	"required_approvals": o.approval.required_approvals,
	"approver_requirements": o.approval.approvers,
	"ram": r.result,
	"environment": o.environment,
} if {
	r.result.effect == "Allow"
	o.denials == []
	request.region_id != ""
	request.db_instance_id != ""
} else := {
	"allow": false,
	"reasons": array.concat(ram_denial(r), array.concat(o.denials, missing(request))),
	"required_approvals": o.approval.required_approvals,
	"approver_requirements": o.approval.approvers,
	"ram": r.result,
	"environment": o.environment,
}

# ram_denial(r) is RAM's verdict when RAM denies, and nothing when it allows:
# beside the rules a request breaks, "RAM: allowed" explains nothing.
ram_denial(r) := [] if {
	r.result.effect == "Allow"
} else := r.reasons

# missing(request) names the fields the request cannot do without, sorted
# (after the org's sentences, which begin with "org:").
missing(request) := [sprintf("request: %s is required", [field]) |
	some field in ["db_instance_id", "region_id"]
	object.get(request, field, "") == ""
]

# The organisation's own rules: package rdsgate.custom, in the modules of
# RDSGATE_POLICY_DIR, with three partial sets. `deny` refuses the request
# with its sentence; `require` adds approver requirements
# ({"group", "count", "reason"}), AND-composed with the environment's;
# `note` explains the request to its approvers. Without such modules all
# three are empty and extend leaves the decision as it is.
custom_denials := array.concat(
	sort([sprintf("custom: %s", [reason]) | some reason in custom.deny]),
	sort([sprintf("custom: require %v needs a group and a count of at least 1", [q]) |
		some q in custom.require
		not well_formed(q)
	]),
)

custom_requirements := [q |
	some q in custom.require
	well_formed(q)
]

custom_notes := sort([note | some note in custom.note])

well_formed(q) if {
	is_string(q.group)
	q.group != ""
	is_number(q.count)
	q.count >= 1
}

# extend(d) is the decision d with the custom rules applied; without a
# module of package rdsgate.custom it is d, and the sets are not evaluated.
extend(d) := d if {
	not custom
} else := d if {
	custom_denials == []
	custom_requirements == []
	custom_notes == []
} else := object.union(d, {
	"allow": allowed(d),
	"reasons": extended_reasons(d),
	"approver_requirements": requirements,
	"required_approvals": max([d.required_approvals, sum([q.count | some q in requirements])]),
	"notes": custom_notes,
}) if {
	requirements := merge_requirements(d.approver_requirements, custom_requirements)
}

# extended_reasons(d) are the custom rules' sentences alone when they deny a
# request the shipped rules allowed (its RAM verdict and approval path
# explain nothing about a denial), and otherwise d's reasons followed by
# theirs.
extended_reasons(d) := custom_denials if {
	d.allow
	custom_denials != []
} else := array.concat(d.reasons, array.concat(custom_denials, required_reasons))

allowed(d) if {
	d.allow
	custom_denials == []
}

default allowed(_) := false

required_reasons := sort([sprintf("custom: %s (%d from %s)", [object.get(q, "reason", "required"), q.count, q.group]) |
	some q in custom_requirements
])

# merge_requirements(a, b) AND-composes two lists of requirements: one per
# group, with the larger count, in group order.
merge_requirements(a, b) := [{"group": group, "count": max([q.count | some q in both; q.group == group])} |
	both := array.concat(a, b)
	some group in sort({q.group | some q in both})
]
