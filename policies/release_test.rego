package rdsgate.release_test

import data.rdsgate.release

statement(policy, effect, resources) := {
	"policy": policy, "index": 1, "effect": effect,
	"actions": ["rds:releaseinstanceconnection"], "not_actions": [],
	"resources": resources, "conditions": [], "problems": [],
}

ram_data := {
	"account_id": "111",
	"accounts": {"111": {"users": {"alice": {
		"groups": ["developers"],
		"statements": [
			statement("Release", "Allow", ["*"]),
			statement("DenyProd", "Deny", ["*prod*"]),
		],
	}}}},
	"users": {"alice": {"groups": ["developers"]}},
	"resource_tags": {},
}

production := {
	"approvers": [{"group": "dba", "count": 1}, {"group": "security", "count": 1}],
	"required_approvals": 2, "summary": "1 from dba and 1 from security",
	"note": "org: production needs 2 approval(s): 1 from dba and 1 from security",
	"freezes": [],
}

org_data := {
	"instances": {},
	"environment_patterns": [],
	"any_pattern": "*",
	"default": {"environment": "production", "source": "the default for unknown instances"},
	"environments": {"production": object.union(production, {"break_glass": production})},
	"break_glass": {"approvers": [], "summary": "no particular group"},
	"justification_min_length": 10,
	"ticket_pattern": "^[A-Z]+-[0-9]+$",
	"max_pending_requests": 5,
	"pending_limit": 5,
}

req(id, justification) := {
	"principal": {"subject": "alice", "groups": []},
	"request": {"region_id": "cn-hangzhou", "db_instance_id": id, "justification": justification, "ticket": "OPS-1"},
	"context": {"current_time": "2026-11-26T09:00:00Z"},
	"pending_requests": 0,
}

test_allowed_request if {
	d := release.decision with input as req("rm-1", "long enough reason") with data.ram as ram_data with data.org as org_data
	d == {
		"allow": true,
		"reasons": [
			"RAM: allowed by policy Release statement 1",
			"org: rm-1 is in environment production (by the default for unknown instances)",
			"org: production needs 2 approval(s): 1 from dba and 1 from security",
		],
		"required_approvals": 2,
		"approver_requirements": [{"group": "dba", "count": 1}, {"group": "security", "count": 1}],
		"ram": {"effect": "Allow", "policy": "Release", "statement": 1, "unsupported": set()},
		"environment": "production",
	}
}

test_ram_deny if {
	d := release.decision with input as req("rm-prod-1", "long enough reason") with data.ram as ram_data with data.org as org_data
	d.allow == false
	d.reasons == ["RAM: explicit deny by policy DenyProd statement 1"]
}

test_org_deny_with_ram_allow if {
	d := release.decision with input as req("rm-1", "short") with data.ram as ram_data with data.org as org_data
	d.allow == false
	d.reasons == ["org: justification shorter than 10 characters"]
}

test_missing_request_fields if {
	inp := object.union(req("", "long enough reason"), {"request": {"region_id": ""}})
	d := release.decision with input as inp with data.ram as ram_data with data.org as org_data
	d.allow == false
	"request: db_instance_id is required" in d.reasons
	"request: region_id is required" in d.reasons
}

test_optional_fields_may_be_absent if {
	# Without justification, ticket or pending_requests the fast check fails,
	# and deny, which finds nothing to refuse under these rules, decides.
	lenient := object.union(org_data, {"justification_min_length": 0, "ticket_pattern": ""})
	inp := {
		"principal": {"subject": "alice"},
		"request": {"region_id": "cn-hangzhou", "db_instance_id": "rm-1"},
		"context": {"current_time": "2026-11-26T09:00:00Z"},
	}
	d := release.decision with input as inp with data.ram as ram_data with data.org as lenient
	d.allow == true
}

test_custom_deny_denies_with_its_sentence if {
	d := release.decision with input as req("rm-1", "long enough reason") with data.ram as ram_data with data.org as org_data with data.rdsgate.custom.deny as {"no releases tonight"}
	d.allow == false
	d.reasons == ["custom: no releases tonight"]
}

test_custom_require_is_and_composed if {
	d := release.decision with input as req("rm-1", "long enough reason") with data.ram as ram_data with data.org as org_data with data.rdsgate.custom.require as {
		{"group": "security", "count": 2, "reason": "tagged pci=true"},
		{"group": "dba", "count": 1, "reason": "also dba"},
		{"group": "network", "count": 1},
	}
	d.allow == true
	d.approver_requirements == [
		{"group": "dba", "count": 1},
		{"group": "network", "count": 1},
		{"group": "security", "count": 2},
	]
	d.required_approvals == 4
	"custom: tagged pci=true (2 from security)" in d.reasons
	"custom: required (1 from network)" in d.reasons
}

test_custom_require_malformed_denies if {
	d := release.decision with input as req("rm-1", "long enough reason") with data.ram as ram_data with data.org as org_data with data.rdsgate.custom.require as {{"group": "security", "count": 0}}
	d.allow == false
	d.approver_requirements == [{"group": "dba", "count": 1}, {"group": "security", "count": 1}]
	some reason in d.reasons
	startswith(reason, "custom: require")
}

test_custom_note_reaches_the_decision if {
	d := release.decision with input as req("rm-1", "long enough reason") with data.ram as ram_data with data.org as org_data with data.rdsgate.custom.note as {"b note", "a note"}
	d.allow == true
	d.notes == ["a note", "b note"]
}

test_without_custom_rules_the_decision_has_no_notes if {
	d := release.decision with input as req("rm-1", "long enough reason") with data.ram as ram_data with data.org as org_data
	not d.notes
}
