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
	"required_approvals": org.approval.required_approvals,
	"approver_requirements": org.approval.approvers,
	"ram": ram.result,
	"environment": org.environment,
}

default allow := false

allow if {
	ram.result.effect == "Allow"
	clean
}

# clean: the request is complete and breaks no org rule (denials is empty).
clean if {
	input.request.region_id != ""
	input.request.db_instance_id != ""
	org.clean
}

# denials are the request-shape and org rules the request breaks, sorted;
# they are only spelled out for a request that breaks some.
denials := [] if {
	clean
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
