package rdsgate.org_test

import data.rdsgate.org

path(n, reqs, summary) := {"approvers": reqs, "required_approvals": n, "summary": summary}

dba := {"group": "dba", "count": 1}

security := {"group": "security", "count": 1}

admins := {"group": "admins", "count": 1}

# A compiled data.org as internal/policy builds it from org.json.
org_data := {
	"default_environment": "production",
	"environment_tag": "env",
	"instance_tags": {"rm-tagged": {"env": "staging"}},
	"environment_names": {"rm-dev-exact": "dev"},
	"environment_patterns": [
		{"pattern": "rm-demo-0[1-9]", "environment": "dev"},
		{"pattern": "*prod*", "environment": "production"},
	],
	"environments": {
		"dev": object.union(path(1, [dba], "1 from dba"), {"break_glass": path(2, [dba, admins], "1 from dba and 1 from admins")}),
		"staging": object.union(path(1, [dba], "1 from dba"), {"break_glass": path(2, [dba, admins], "1 from dba and 1 from admins")}),
		"production": object.union(
			path(2, [dba, security], "1 from dba and 1 from security"),
			{"break_glass": path(3, [dba, security, admins], "1 from dba and 1 from security and 1 from admins")},
		),
	},
	"freeze_windows": [
		{
			"start": "2026-12-20T00:00:00Z", "end": "2027-01-05T00:00:00Z",
			"start_ns": time.parse_rfc3339_ns("2026-12-20T00:00:00Z"),
			"end_ns": time.parse_rfc3339_ns("2027-01-05T00:00:00Z"),
			"reason": "year-end", "environments": ["production"],
		},
		{
			"start": "2027-02-01T00:00:00Z", "end": "2027-02-02T00:00:00Z",
			"start_ns": time.parse_rfc3339_ns("2027-02-01T00:00:00Z"),
			"end_ns": time.parse_rfc3339_ns("2027-02-02T00:00:00Z"),
			"reason": "migration day", "environments": [],
		},
	],
	"break_glass": {"approvers": [admins], "summary": "1 from admins"},
	"justification_min_length": 10,
	"ticket_pattern": "^[A-Z]+-[0-9]+$",
	"max_pending_requests": 5,
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
}

test_environment_without_rules_is_denied if {
	d := org.deny with input as req("rm-x") with data.org as object.union(org_data, {"default_environment": "qa"})
	d == {"org: environment qa has no approval rules in the org data"}
	org.required_approvals == 0 with input as req("rm-x") with data.org as object.union(org_data, {"default_environment": "qa"})
}

test_freeze_denies if {
	d := org.deny with input as at("rm-prod-1", "2026-12-24T10:00:00Z") with data.org as org_data
	d == {"org: change freeze \"year-end\" (2026-12-20T00:00:00Z to 2027-01-05T00:00:00Z) is in effect for production; only a break-glass request may proceed"}
}

test_freeze_is_per_environment if {
	count(org.deny) == 0 with input as at("rm-demo-01", "2026-12-24T10:00:00Z") with data.org as org_data
}

test_freeze_without_environments_covers_all if {
	count(org.deny) == 1 with input as at("rm-demo-01", "2027-02-01T10:00:00Z") with data.org as org_data
}

test_freeze_window_bounds if {
	count(org.deny) == 1 with input as at("rm-prod-1", "2026-12-20T00:00:00Z") with data.org as org_data
	count(org.deny) == 0 with input as at("rm-prod-1", "2027-01-05T00:00:00Z") with data.org as org_data
}

test_break_glass_during_freeze if {
	inp := object.union(at("rm-prod-1", "2026-12-24T10:00:00Z"), {"request": {"break_glass": true}})
	count(org.deny) == 0 with input as inp with data.org as org_data
	org.required_approvals == 3 with input as inp with data.org as org_data
	org.requirements == [dba, security, admins] with input as inp with data.org as org_data
	org.notes[2] == "org: break glass during change freeze \"year-end\" adds 1 from admins" with input as inp with data.org as org_data
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
}

test_short_justification if {
	d := org.deny with input as with_request("rm-prod-1", {"justification": "  too short   "}) with data.org as org_data
	d == {"org: justification shorter than 10 characters"}
}

test_ticket_pattern if {
	d := org.deny with input as with_request("rm-prod-1", {"ticket": "ops-1"}) with data.org as org_data
	d == {"org: ticket \"ops-1\" does not match the required pattern ^[A-Z]+-[0-9]+$"}
	count(org.deny) == 0 with input as with_request("rm-prod-1", {"ticket": "ops-1"})
		with data.org as object.union(org_data, {"ticket_pattern": ""})
}

test_pending_limit if {
	inp := object.union(req("rm-prod-1"), {"pending_requests": 5})
	d := org.deny with input as inp with data.org as org_data
	d == {"org: alice already has 5 pending requests (limit 5)"}
	count(org.deny) == 0 with input as object.union(req("rm-prod-1"), {"pending_requests": 4}) with data.org as org_data
	count(org.deny) == 0 with input as inp with data.org as object.union(org_data, {"max_pending_requests": 0})
}
