package rdsgate.org_test

import data.rdsgate.org

path(env, n, reqs, summary) := {
	"approvers": reqs, "required_approvals": n, "summary": summary,
	"note": sprintf("org: %s needs %d approval(s): %s", [env, n, summary]),
}

dba := {"group": "dba", "count": 1}

security := {"group": "security", "count": 1}

admins := {"group": "admins", "count": 1}

year_end := {
	"start_ns": time.parse_rfc3339_ns("2026-12-20T00:00:00Z"),
	"end_ns": time.parse_rfc3339_ns("2027-01-05T00:00:00Z"),
	"reason": "year-end",
	"deny_note": "org: change freeze \"year-end\" (2026-12-20T00:00:00Z to 2027-01-05T00:00:00Z) is in effect for production; only a break-glass request may proceed",
	"break_glass_note": "org: break glass during change freeze \"year-end\" adds 1 from admins",
}

migration(env) := {
	"start_ns": time.parse_rfc3339_ns("2027-02-01T00:00:00Z"),
	"end_ns": time.parse_rfc3339_ns("2027-02-02T00:00:00Z"),
	"reason": "migration day",
	"deny_note": sprintf("org: change freeze \"migration day\" (2027-02-01T00:00:00Z to 2027-02-02T00:00:00Z) is in effect for %s; only a break-glass request may proceed", [env]),
	"break_glass_note": "org: break glass during change freeze \"migration day\" adds 1 from admins",
}

environment(env, n, reqs, summary, freezes) := object.union(path(env, n, reqs, summary), {
	"freezes": freezes,
	"break_glass": path(env, n + 1, array.concat(reqs, [admins]), concat(" and ", [summary, "1 from admins"])),
})

# A compiled data.org as internal/policy builds it from org.json.
org_data := {
	"instances": {
		"rm-tagged": {"environment": "staging", "source": "tag env"},
		"rm-dev-exact": {"environment": "dev", "source": "its name"},
	},
	"environment_patterns": [
		{"pattern": "rm-demo-0[1-9]", "environment": "dev", "source": "name pattern rm-demo-0[1-9]"},
		{"pattern": "*prod*", "environment": "production", "source": "name pattern *prod*"},
	],
	"any_pattern": "{rm-demo-0[1-9],*prod*}",
	"default": {"environment": "production", "source": "the default for unknown instances"},
	"environments": {
		"dev": environment("dev", 1, [dba], "1 from dba", [migration("dev")]),
		"staging": environment("staging", 1, [dba], "1 from dba", [migration("staging")]),
		"production": environment("production", 2, [dba, security], "1 from dba and 1 from security", [year_end, migration("production")]),
	},
	"break_glass": {"approvers": [admins], "summary": "1 from admins"},
	"justification_min_length": 10,
	"ticket_pattern": "^[A-Z]+-[0-9]+$",
	"max_pending_requests": 5,
	"pending_limit": 5,
}

req(id) := {
	"principal": {"subject": "alice", "groups": []},
	"request": {
		"region_id": "cn-hangzhou", "db_instance_id": id,
		"justification": "a good reason", "ticket": "OPS-1",
	},
	"context": {"current_time": "2026-11-26T09:00:00Z"},
	"pending_requests": 0,
}

at(id, t) := object.union(req(id), {"context": {"current_time": t}})

with_request(id, fields) := object.union(req(id), {"request": fields})

# clean must be exactly "deny is empty"; check_clean asserts it for an input.
check_clean(inp, data_org) if {
	org.clean with input as inp with data.org as data_org
	count(org.deny) == 0 with input as inp with data.org as data_org
}

check_clean(inp, data_org) if {
	not org.clean with input as inp with data.org as data_org
	count(org.deny) > 0 with input as inp with data.org as data_org
}

test_environment_from_tag if {
	org.environment == "staging" with input as req("rm-tagged") with data.org as org_data
	org.notes[0] == "org: rm-tagged is in environment staging (by tag env)" with input as req("rm-tagged") with data.org as org_data
}

test_environment_from_exact_name if {
	org.environment == "dev" with input as req("rm-dev-exact") with data.org as org_data
	org.notes[0] == "org: rm-dev-exact is in environment dev (by its name)" with input as req("rm-dev-exact") with data.org as org_data
}

test_environment_from_pattern if {
	org.environment == "dev" with input as req("rm-demo-03") with data.org as org_data
	org.environment == "production" with input as req("rm-prod-9") with data.org as org_data
	org.notes[0] == "org: rm-prod-9 is in environment production (by name pattern *prod*)" with input as req("rm-prod-9")
		with data.org as org_data

	# any_pattern only screens: "*" sends every instance through the patterns.
	org.environment == "dev" with input as req("rm-demo-03") with data.org as object.union(org_data, {"any_pattern": "*"})
	org.environment == "production" with input as req("rm-demo-10") with data.org as object.union(org_data, {"any_pattern": "*"})
}

test_unknown_instance_gets_the_default if {
	org.environment == "production" with input as req("rm-other") with data.org as org_data
	org.notes[0] == "org: rm-other is in environment production (by the default for unknown instances)" with input as req("rm-other")
		with data.org as org_data
}

test_approvals_per_environment if {
	org.required_approvals == 1 with input as req("rm-demo-01") with data.org as org_data
	org.requirements == [dba] with input as req("rm-demo-01") with data.org as org_data
	org.required_approvals == 2 with input as req("rm-prod-1") with data.org as org_data
	org.requirements == [dba, security] with input as req("rm-prod-1") with data.org as org_data
	org.notes[1] == "org: production needs 2 approval(s): 1 from dba and 1 from security" with input as req("rm-prod-1")
		with data.org as org_data
	count(org.deny) == 0 with input as req("rm-prod-1") with data.org as org_data
	org.clean with input as req("rm-prod-1") with data.org as org_data
}

test_environment_without_rules_is_denied if {
	no_rules := object.union(org_data, {"default": {"environment": "qa", "source": "the default for unknown instances"}})
	d := org.deny with input as req("rm-x") with data.org as no_rules
	d == {"org: environment qa has no approval rules in the org data"}
	org.required_approvals == 0 with input as req("rm-x") with data.org as no_rules
	check_clean(req("rm-x"), no_rules)
}

test_freeze_denies if {
	d := org.deny with input as at("rm-prod-1", "2026-12-24T10:00:00Z") with data.org as org_data
	d == {year_end.deny_note}
	check_clean(at("rm-prod-1", "2026-12-24T10:00:00Z"), org_data)
}

test_freeze_is_per_environment if {
	count(org.deny) == 0 with input as at("rm-demo-01", "2026-12-24T10:00:00Z") with data.org as org_data
	check_clean(at("rm-demo-01", "2026-12-24T10:00:00Z"), org_data)
}

test_freeze_of_every_environment if {
	d := org.deny with input as at("rm-demo-01", "2027-02-01T10:00:00Z") with data.org as org_data
	d == {migration("dev").deny_note}
}

test_overlapping_freezes_are_all_reported if {
	overlapping := object.union(org_data, {"environments": {"production": object.union(
		org_data.environments.production,
		{"freezes": [year_end, object.union(year_end, {"deny_note": "second"})]},
	)}})
	d := org.deny with input as at("rm-prod-1", "2026-12-24T10:00:00Z") with data.org as overlapping
	d == {year_end.deny_note, "second"}
}

test_freeze_window_bounds if {
	count(org.deny) == 1 with input as at("rm-prod-1", "2026-12-20T00:00:00Z") with data.org as org_data
	count(org.deny) == 0 with input as at("rm-prod-1", "2027-01-05T00:00:00Z") with data.org as org_data
}

test_break_glass_during_freeze if {
	inp := object.union(at("rm-prod-1", "2026-12-24T10:00:00Z"), {"request": {"break_glass": true}})
	count(org.deny) == 0 with input as inp with data.org as org_data
	check_clean(inp, org_data)
	org.required_approvals == 3 with input as inp with data.org as org_data
	org.requirements == [dba, security, admins] with input as inp with data.org as org_data
	org.notes == [
		"org: rm-prod-1 is in environment production (by name pattern *prod*)",
		"org: production needs 3 approval(s): 1 from dba and 1 from security and 1 from admins",
		"org: break glass during change freeze \"year-end\" adds 1 from admins",
	] with input as inp with data.org as org_data
}

test_break_glass_outside_freeze_changes_nothing if {
	inp := with_request("rm-prod-1", {"break_glass": true})
	org.required_approvals == 2 with input as inp with data.org as org_data
	count(org.notes) == 2 with input as inp with data.org as org_data
}

test_missing_time_is_denied if {
	inp := object.union(req("rm-prod-1"), {"context": {"current_time": "yesterday"}})
	"org: the request has no valid current_time (RFC 3339), so change freezes cannot be checked" in org.deny with input as inp
		with data.org as org_data
	check_clean(inp, org_data)
}

test_short_justification if {
	inp := with_request("rm-prod-1", {"justification": "  too short   "})
	d := org.deny with input as inp with data.org as org_data
	d == {"org: justification shorter than 10 characters"}
	check_clean(inp, org_data)
}

test_ticket_pattern if {
	inp := with_request("rm-prod-1", {"ticket": "ops-1"})
	d := org.deny with input as inp with data.org as org_data
	d == {"org: ticket \"ops-1\" does not match the required pattern ^[A-Z]+-[0-9]+$"}
	check_clean(inp, org_data)

	# An empty pattern disables the check.
	count(org.deny) == 0 with input as inp with data.org as object.union(org_data, {"ticket_pattern": ""})
	check_clean(inp, object.union(org_data, {"ticket_pattern": ""}))
}

test_pending_limit if {
	inp := object.union(req("rm-prod-1"), {"pending_requests": 5})
	d := org.deny with input as inp with data.org as org_data
	d == {"org: alice already has 5 pending requests (limit 5)"}
	check_clean(inp, org_data)
	count(org.deny) == 0 with input as object.union(req("rm-prod-1"), {"pending_requests": 4}) with data.org as org_data

	# max_pending_requests 0 (no limit) compiles to a limit nobody reaches.
	no_limit := object.union(org_data, {"max_pending_requests": 0, "pending_limit": 9007199254740992})
	count(org.deny) == 0 with input as inp with data.org as no_limit
	check_clean(inp, no_limit)
}

test_missing_fields_are_left_to_deny if {
	# clean reads the fields the engine always sends; without them deny decides.
	bare := {"principal": {"subject": "alice"}, "request": {"db_instance_id": "rm-prod-1"}, "context": {"current_time": "2026-11-26T09:00:00Z"}}
	not org.clean with input as bare with data.org as org_data
	d := org.deny with input as bare with data.org as org_data
	d == {
		"org: justification shorter than 10 characters",
		"org: ticket \"\" does not match the required pattern ^[A-Z]+-[0-9]+$",
	}
}

test_answer if {
	a := org.answer with input as req("rm-demo-01") with data.org as org_data
	a == {
		"environment": "dev",
		"approval": {"approvers": [dba], "required_approvals": 1},
		"denials": [],
		"notes": [
			"org: rm-demo-01 is in environment dev (by name pattern rm-demo-0[1-9])",
			"org: dev needs 1 approval(s): 1 from dba",
		],
	}
}

test_answer_denials_are_sorted if {
	inp := object.union(with_request("rm-prod-1", {"ticket": "x", "justification": "short"}), {"pending_requests": 7})
	a := org.answer with input as inp with data.org as org_data
	a.denials == [
		"org: alice already has 7 pending requests (limit 5)",
		"org: justification shorter than 10 characters",
		"org: ticket \"x\" does not match the required pattern ^[A-Z]+-[0-9]+$",
	]
}
