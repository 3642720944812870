package rdsgate.ram_test

import data.rdsgate.ram

# A compiled data.ram as internal/policy builds it from ram.json.
arn(id) := concat("", ["acs:rds:cn-hangzhou:111:dbinstance/", id])

allow_all := {"policy": "AllowAll", "index": 1, "effect": "Allow", "resources": ["*"]}

deny_prod := {"policy": "DenyProd", "index": 2, "effect": "Deny", "resources": ["acs:rds:*:111:dbinstance/*prod*"]}

ram_data(user) := {"account_id": "111", "users": {"u": user}, "resource_tags": {}}

req(id) := {
	"principal": {"subject": "u", "groups": []},
	"request": {"region_id": "cn-hangzhou", "db_instance_id": id},
	"context": {"current_time": "2026-01-02T03:04:05Z", "secure_transport": true, "mfa_present": false},
}

user_with(by_action, by_glob, not_action) := {
	"groups": [],
	"by_action": {"rds:releaseinstanceconnection": by_action},
	"by_glob": by_glob,
	"not_action": not_action,
}

test_resource_is_the_instance_arn if {
	ram.resource == "acs:rds:cn-hangzhou:111:dbinstance/rm-1" with input as req("rm-1")
		with data.ram as ram_data(user_with([], [], []))
}

test_allow_by_exact_action if {
	r := ram.result with input as req("rm-1") with data.ram as ram_data(user_with([allow_all], [], []))
	r == {"effect": "Allow", "policy": "AllowAll", "statement": 1, "unsupported": set()}
	ram.reasons == ["RAM: allowed by policy AllowAll statement 1"] with input as req("rm-1")
		with data.ram as ram_data(user_with([allow_all], [], []))
}

test_explicit_deny_beats_allow if {
	r := ram.result with input as req("rm-prod-1") with data.ram as ram_data(user_with([allow_all, deny_prod], [], []))
	r.effect == "ExplicitDeny"
	r.policy == "DenyProd"
	r.statement == 2
	ram.reasons == ["RAM: explicit deny by policy DenyProd statement 2"] with input as req("rm-prod-1")
		with data.ram as ram_data(user_with([allow_all, deny_prod], [], []))
}

test_deny_that_does_not_match_leaves_allow if {
	r := ram.result with input as req("rm-dev-1") with data.ram as ram_data(user_with([allow_all, deny_prod], [], []))
	r.effect == "Allow"
}

test_implicit_deny_without_matching_allow if {
	st := {"policy": "Other", "index": 1, "effect": "Allow", "resources": [arn("rm-2")]}
	r := ram.result with input as req("rm-1") with data.ram as ram_data(user_with([st], [], []))
	r == {"effect": "ImplicitDeny", "policy": "", "statement": 0, "unsupported": set()}
	reasons := ram.reasons with input as req("rm-1") with data.ram as ram_data(user_with([st], [], []))
	startswith(reasons[0], "RAM: implicit deny: no statement in the policies of u allows")
}

test_unknown_user_is_implicitly_denied if {
	r := ram.result with input as req("rm-1") with data.ram as {"account_id": "111", "users": {}}
	r.effect == "ImplicitDeny"
	ram.reasons == ["RAM: user \"u\" is not defined in the RAM data, so RAM denies implicitly"] with input as req("rm-1")
		with data.ram as {"account_id": "111", "users": {}}
}

test_action_wildcards if {
	star := {"policy": "P", "index": 1, "effect": "Allow", "resources": ["*"], "action_globs": ["rds:release*"]}
	single := {"policy": "P", "index": 2, "effect": "Allow", "resources": ["*"], "action_globs": ["rds:releaseinstanceconnectio?"]}
	other := {"policy": "P", "index": 3, "effect": "Allow", "resources": ["*"], "action_globs": ["rds:describe*"]}
	ram.result.statement == 1 with input as req("rm-1") with data.ram as ram_data(user_with([], [star], []))
	ram.result.statement == 2 with input as req("rm-1") with data.ram as ram_data(user_with([], [single], []))
	ram.result.effect == "ImplicitDeny" with input as req("rm-1") with data.ram as ram_data(user_with([], [other], []))
}

test_not_action if {
	# NotAction rds:Describe* applies to every other action, ours included.
	excludes_other := {"policy": "P", "index": 1, "effect": "Allow", "resources": ["*"], "action_globs": ["rds:describe*"]}
	ram.result.effect == "Allow" with input as req("rm-1") with data.ram as ram_data(user_with([], [], [excludes_other]))

	# NotAction naming our action, exactly or by wildcard, does not apply.
	excludes_ours := {"policy": "P", "index": 1, "effect": "Allow", "resources": ["*"], "actions": {"rds:releaseinstanceconnection": true}}
	ram.result.effect == "ImplicitDeny" with input as req("rm-1") with data.ram as ram_data(user_with([], [], [excludes_ours]))
	excludes_by_glob := {"policy": "P", "index": 1, "effect": "Allow", "resources": ["*"], "action_globs": ["rds:release*"]}
	ram.result.effect == "ImplicitDeny" with input as req("rm-1") with data.ram as ram_data(user_with([], [], [excludes_by_glob]))
}

test_not_action_deny if {
	deny_all_but_describe := {"policy": "D", "index": 1, "effect": "Deny", "resources": ["*"], "action_globs": ["rds:describe*"]}
	r := ram.result with input as req("rm-1") with data.ram as ram_data(user_with([allow_all], [], [deny_all_but_describe]))
	r.effect == "ExplicitDeny"
}

test_resource_wildcards_and_case if {
	question := {"policy": "P", "index": 1, "effect": "Allow", "resources": ["acs:rds:cn-hangzhou:111:dbinstance/rm-?"]}
	ram.result.effect == "Allow" with input as req("rm-1") with data.ram as ram_data(user_with([question], [], []))
	ram.result.effect == "ImplicitDeny" with input as req("rm-12") with data.ram as ram_data(user_with([question], [], []))

	# Resources match case-sensitively.
	exact := {"policy": "P", "index": 1, "effect": "Allow", "resources": [arn("rm-ABC")]}
	ram.result.effect == "Allow" with input as req("rm-ABC") with data.ram as ram_data(user_with([exact], [], []))
	ram.result.effect == "ImplicitDeny" with input as req("rm-abc") with data.ram as ram_data(user_with([exact], [], []))

	# A star crosses the colons and slashes of an ARN.
	wide := {"policy": "P", "index": 1, "effect": "Allow", "resources": ["acs:rds:*"]}
	ram.result.effect == "Allow" with input as req("rm-1") with data.ram as ram_data(user_with([wide], [], []))
}

test_first_matching_statement_decides if {
	a := {"policy": "A", "index": 3, "effect": "Allow", "resources": ["*"]}
	b := {"policy": "B", "index": 1, "effect": "Allow", "resources": ["*"]}
	r := ram.result with input as req("rm-1") with data.ram as ram_data(user_with([a, b], [], []))
	r.policy == "A"
}
