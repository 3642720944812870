package rdsgate.approve_test

import data.rdsgate.approve

ram_data := {"users": {
	"bob": {"groups": ["dba"]},
	"carol": {"groups": ["security"]},
	"erin": {"groups": ["dba", "admins"]},
	"dave": {"groups": ["auditors"]},
}}

# accounts: the RAM data of two accounts; bob is a dba in 111 only.
accounts_data := object.union(ram_data, {"accounts": {
	"111": {"users": ram_data.users},
	"222": {"users": {"bob": {"groups": ["developers"]}}},
}})

org_data := {"environments": {
	"production": {"approvers": [{"group": "dba", "count": 1}, {"group": "security", "count": 1}], "required_approvals": 2},
	"dev": {"approvers": [{"group": "dba", "count": 1}], "required_approvals": 2},
}}

prod_reqs := [{"group": "dba", "count": 1}, {"group": "security", "count": 1}]

vote(approver, groups, votes) := {
	"approver": {"subject": approver, "groups": groups},
	"requester": "alice",
	"approver_requirements": prod_reqs,
	"votes": votes,
	"environment": "production",
}

test_member_of_open_requirement_may_approve if {
	d := approve.decision with input as vote("bob", [], []) with data.ram as ram_data with data.org as org_data
	d == {"allow": true, "reasons": ["approval: bob may approve for dba"], "group": "dba"}
}

test_groups_from_token_count if {
	d := approve.decision with input as vote("zoe", ["security"], []) with data.ram as ram_data with data.org as org_data
	d.allow
	d.group == "security"
}

test_requester_may_not_approve if {
	inp := object.union(vote("bob", [], []), {"requester": "bob"})
	d := approve.decision with input as inp with data.ram as ram_data with data.org as org_data
	d == {"allow": false, "reasons": ["approval: requesters may not approve their own request"], "group": ""}
}

test_no_second_vote if {
	d := approve.decision with input as vote("bob", [], [{"approver": "bob", "group": "dba", "decision": "reject"}])
		with data.ram as ram_data
		with data.org as org_data
	d.allow == false
	"approval: bob has already voted on this request" in d.reasons
}

test_met_requirement_is_closed if {
	votes := [{"approver": "erin", "group": "dba", "decision": "approve"}]
	d := approve.decision with input as vote("bob", [], votes) with data.ram as ram_data with data.org as org_data
	d == {"allow": false, "reasons": ["approval: the requirements for dba are already met"], "group": ""}
	d2 := approve.decision with input as vote("carol", [], votes) with data.ram as ram_data with data.org as org_data
	d2.group == "security"
}

test_rejections_do_not_count if {
	votes := [{"approver": "erin", "group": "dba", "decision": "reject"}]
	d := approve.decision with input as vote("bob", [], votes) with data.ram as ram_data with data.org as org_data
	d.group == "dba"
}

test_outsider_may_not_approve if {
	d := approve.decision with input as vote("dave", [], []) with data.ram as ram_data with data.org as org_data
	d.reasons == ["approval: dave is in none of the approver groups (dba, security)"]
}

test_all_met if {
	votes := [
		{"approver": "erin", "group": "dba", "decision": "approve"},
		{"approver": "carol", "group": "security", "decision": "approve"},
	]
	d := approve.decision with input as vote("bob", [], votes) with data.ram as ram_data with data.org as org_data
	d.reasons == ["approval: every approver requirement is already met"]
}

test_environment_requirements_when_none_given if {
	inp := object.union(vote("bob", [], []), {"approver_requirements": [], "environment": "dev"})
	d := approve.decision with input as inp with data.ram as ram_data with data.org as org_data
	d.group == "dba"
}

test_surplus_approvals_up_to_the_environment_count if {
	# dev wants 2 approvals but its only requirement is 1 from dba.
	base := object.union(vote("bob", [], [{"approver": "erin", "group": "dba", "decision": "approve"}]), {"environment": "dev"})
	inp := object.union(base, {"approver_requirements": [{"group": "dba", "count": 1}]})
	d := approve.decision with input as inp with data.ram as ram_data with data.org as org_data
	d.allow
	d.group == "dba"
	d2 := approve.decision with input as object.union(inp, {"approver": {"subject": "dave", "groups": []}})
		with data.ram as ram_data
		with data.org as org_data
	d2.reasons == ["approval: dave is in none of the approver groups (dba)"]
}

test_no_subject if {
	d := approve.decision with input as vote("", [], []) with data.ram as ram_data with data.org as org_data
	"approval: the approver has no subject" in d.reasons
}

test_groups_come_from_the_request_account if {
	inp := object.union(vote("bob", [], []), {"account_id": "111"})
	d := approve.decision with input as inp with data.ram as accounts_data with data.org as org_data
	d.allow

	# In account 222 bob is no dba.
	inp2 := object.union(vote("bob", [], []), {"account_id": "222"})
	d2 := approve.decision with input as inp2 with data.ram as accounts_data with data.org as org_data
	not d2.allow

	# An account that is not configured gives no RAM groups.
	inp3 := object.union(vote("bob", [], []), {"account_id": "333"})
	d3 := approve.decision with input as inp3 with data.ram as accounts_data with data.org as org_data
	not d3.allow
}
