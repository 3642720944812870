# METADATA
# title: Release decision
# description: |
#   The entry point for a request to release an instance's public endpoint:
#   data.rdsgate.release.decision combines the RAM verdict (rdsgate.ram) with
#   the organisation's rules (rdsgate.org). The request is allowed only when
#   RAM allows it and no org rule denies it; an allowed request still waits
#   for required_approvals approvals meeting approver_requirements.
package rdsgate.release

import data.rdsgate.org
import data.rdsgate.ram

decision := compose(input.request, ram.answer, org.answer)

# compose(request, r, o) is the decision on request from RAM's answer r
# (rdsgate.ram.answer) and the org rules' answer o (rdsgate.org.answer).
# The reasons are RAM's verdict, then the approval path of an allowed request
# or the rules a denied one breaks, sorted. internal/policy calls compose
# itself with the two answers (see its package documentation), so it is a
# function of them alone, and the usual case is decided by its first body.
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
	"reasons": array.concat(r.reasons, array.concat(o.denials, missing(request))),
	"required_approvals": o.approval.required_approvals,
	"approver_requirements": o.approval.approvers,
	"ram": r.result,
	"environment": o.environment,
}

# missing(request) names the fields the request cannot do without, sorted
# (after the org's sentences, which begin with "org:").
missing(request) := [sprintf("request: %s is required", [field]) |
	some field in ["db_instance_id", "region_id"]
	object.get(request, field, "") == ""
]
