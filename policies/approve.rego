# METADATA
# title: Approval decision
# description: |
#   The entry point for a vote: data.rdsgate.approve.decision says whether an
#   approver may vote on a request and which open requirement the vote counts
#   toward. The approver's groups are those of the token or OIDC login
#   (input.approver.groups) and those of the RAM user of the same name in
#   the RAM data of the request's account.
package rdsgate.approve

subject := input.approver.subject

groups := {g | some g in input.approver.groups} | {g | some g in ram_users[subject].groups}

# ram_users are the RAM users of the request's account (input.account_id),
# none for an account that is not configured, and those of the default
# account when the input names no account.
ram_users := object.get(data.ram.accounts, [input.account_id, "users"], {}) if {
	input.account_id != ""
} else := data.ram.users

# requirements are the request's; a request without any falls back to its
# environment's.
requirements := input.approver_requirements if {
	count(input.approver_requirements) > 0
} else := data.org.environments[input.environment].approvers

votes := object.get(input, "votes", [])

approvals(group) := count([v | some v in votes; v.decision == "approve"; v.group == group])

total_approvals := count([v | some v in votes; v.decision == "approve"])

# open lists the groups of requirements that still need approvals, in order.
open := [r.group | some r in requirements; approvals(r.group) < r.count]

required_total := object.get(data.org.environments, [input.environment, "required_approvals"], 0)

# surplus: every requirement is met but the environment asks for more
# approvals in total; any requirement group may supply them.
surplus if {
	count(open) == 0
	total_approvals < required_total
}

eligible := [g | some g in open; g in groups] if {
	not surplus
} else := [r.group | some r in requirements; r.group in groups]

requirement_groups := [r.group | some r in requirements]

deny contains "approval: the approver has no subject" if subject == ""

deny contains "approval: requesters may not approve their own request" if subject == input.requester

deny contains sprintf("approval: %s has already voted on this request", [subject]) if {
	some v in votes
	v.approver == subject
}

deny contains "approval: every approver requirement is already met" if {
	count(open) == 0
	not surplus
}

# still_open: some requirement, or the environment's total, needs approvals.
still_open if count(open) > 0

still_open if surplus

deny contains sprintf("approval: %s is in none of the approver groups (%s)", [subject, concat(", ", requirement_groups)]) if {
	still_open
	count({g | some g in requirement_groups} & groups) == 0
}

deny contains sprintf("approval: the requirements for %s are already met", [concat(", ", sort(met))]) if {
	count(open) > 0
	count(eligible) == 0
	met := {g | some g in requirement_groups; g in groups}
	count(met) > 0
}

default allow := false

allow if {
	count(deny) == 0
	count(eligible) > 0
}

default group := ""

group := eligible[0] if allow

reasons := [sprintf("approval: %s may approve for %s", [subject, group])] if {
	allow
} else := [msg | some msg in deny]

decision := {
	"allow": allow,
	"reasons": reasons,
	"group": group,
}
