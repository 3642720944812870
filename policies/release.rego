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

decision := {
	"allow": allow,
	"reasons": reasons,
	"required_approvals": approval.required_approvals,
	"approver_requirements": approval.approvers,
	"ram": ram.result,
	"environment": org.environment,
} if {
	approval := org.approval
}

default allow := false

allow if {
	ram.result.effect == "Allow"
	count(denials) == 0
}

# denials are the request-shape and org rules the request breaks, sorted.
# `clean` recognises the usual request that breaks none in one rule; only
# the others have `deny` spelled out.
denials := [] if {
	input.request.region_id != ""
	input.request.db_instance_id != ""
	org.clean
} else := [msg | some msg in deny]

deny contains msg if some msg in org.deny

deny contains sprintf("request: %s is required", [field]) if {
	some field in ["region_id", "db_instance_id"]
	object.get(input.request, field, "") == ""
}

# reasons: the RAM verdict, then the broken rules; for an allowed request,
# the approval path instead.
reasons := array.concat(ram.reasons, org.notes) if {
	allow
} else := array.concat(ram.reasons, denials)
