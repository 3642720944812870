package rdsgate.ram_test

import data.rdsgate.ram

# A compiled data.ram as internal/policy builds it from ram.json (one
# account, 111): statements that apply to the action, with their conditions
# and problems.
arn(id) := concat("", ["acs:rds:cn-hangzhou:111:dbinstance/", id])

# stmt is a statement listing the action exactly, without conditions.
stmt(policy, index, effect, resources) := {
	"policy": policy, "index": index, "effect": effect,
	"actions": ["rds:releaseinstanceconnection"], "not_actions": [],
	"resources": resources, "conditions": [], "problems": [],
}

allow_all := stmt("AllowAll", 1, "Allow", ["*"])

deny_prod := stmt("DenyProd", 2, "Deny", ["acs:rds:*:111:dbinstance/*prod*"])

ram_data(statements) := {
	"account_id": "111", "accounts_json": false,
	"accounts": {"111": {"name": "111", "regions": [], "users": {"u": {"groups": [], "statements": statements}}}},
	"users": {"u": {"groups": []}}, "resource_tags": {},
}

# two_accounts: accounts.json lists 111 and 222; u may release in 222 only.
two_accounts(default_account) := {
	"account_id": default_account, "accounts_json": true,
	"accounts": {
		"111": {"name": "prod", "regions": ["cn-hangzhou"], "users": {"u": {"groups": [], "statements": []}}},
		"222": {"name": "dev", "regions": ["cn-hangzhou"], "users": {"u": {"groups": [], "statements": [allow_all]}}},
	},
	"users": {}, "resource_tags": {},
}

in_account(id, account) := object.union(req(id), {"request": {"account_id": account}})

req(id) := {
	"principal": {"subject": "u", "groups": []},
	"request": {"region_id": "cn-hangzhou", "db_instance_id": id},
	"context": {"current_time": "2026-01-02T03:04:05Z", "secure_transport": true, "mfa_present": false},
}

test_resource_is_the_instance_arn if {
	ram.resource == "acs:rds:cn-hangzhou:111:dbinstance/rm-1" with input as req("rm-1") with data.ram as ram_data([])
}

test_allow_by_exact_action if {
	r := ram.result with input as req("rm-1") with data.ram as ram_data([allow_all])
	r == {"effect": "Allow", "policy": "AllowAll", "statement": 1, "unsupported": set()}
	ram.reasons == ["RAM: allowed by policy AllowAll statement 1"] with input as req("rm-1")
		with data.ram as ram_data([allow_all])
}

test_explicit_deny_beats_allow if {
	r := ram.result with input as req("rm-prod-1") with data.ram as ram_data([allow_all, deny_prod])
	r.effect == "ExplicitDeny"
	r.policy == "DenyProd"
	r.statement == 2
	ram.reasons == ["RAM: explicit deny by policy DenyProd statement 2"] with input as req("rm-prod-1")
		with data.ram as ram_data([allow_all, deny_prod])
}

test_deny_that_does_not_match_leaves_allow if {
	r := ram.result with input as req("rm-dev-1") with data.ram as ram_data([allow_all, deny_prod])
	r.effect == "Allow"
}

test_implicit_deny_without_matching_allow if {
	st := stmt("Other", 1, "Allow", [arn("rm-2")])
	r := ram.result with input as req("rm-1") with data.ram as ram_data([st])
	r == {"effect": "ImplicitDeny", "policy": "", "statement": 0, "unsupported": set()}
	ram.reasons == ["RAM: implicit deny: no statement in the policies of u allows rds:ReleaseInstanceConnection on acs:rds:cn-hangzhou:111:dbinstance/rm-1"] with input as req("rm-1")
		with data.ram as ram_data([st])
}

test_unknown_user_is_implicitly_denied if {
	no_users := {"account_id": "111", "accounts": {"111": {"users": {}}}}
	r := ram.result with input as req("rm-1") with data.ram as no_users
	r.effect == "ImplicitDeny"
	ram.reasons == ["RAM: user \"u\" is not defined in the RAM data, so RAM denies implicitly"] with input as req("rm-1")
		with data.ram as no_users
}

test_request_account_decides_and_is_in_the_arn if {
	ram.account == "222" with input as in_account("rm-1", "222") with data.ram as two_accounts("111")
	ram.resource == "acs:rds:cn-hangzhou:222:dbinstance/rm-1" with input as in_account("rm-1", "222")
		with data.ram as two_accounts("111")
	r := ram.result with input as in_account("rm-1", "222") with data.ram as two_accounts("111")
	r.effect == "Allow"

	# The same user in the other account has no statement there.
	r2 := ram.result with input as in_account("rm-1", "111") with data.ram as two_accounts("111")
	r2.effect == "ImplicitDeny"
}

test_no_account_is_the_default if {
	ram.account == "111" with input as req("rm-1") with data.ram as two_accounts("111")
	ram.account == "111" with input as in_account("rm-1", "") with data.ram as two_accounts("111")
	r := ram.result with input as req("rm-1") with data.ram as two_accounts("222")
	r.effect == "Allow"
}

test_unknown_account_is_denied_with_its_reason if {
	r := ram.result with input as in_account("rm-1", "333") with data.ram as two_accounts("111")
	r.effect == "ImplicitDeny"
	ram.reasons == ["RAM: account 333 is not in accounts.json"] with input as in_account("rm-1", "333")
		with data.ram as two_accounts("111")

	# Without accounts.json, one account is configured.
	ram.reasons == ["RAM: account 333 is not the configured account 111"] with input as in_account("rm-1", "333")
		with data.ram as ram_data([allow_all])

	# No account named and no default.
	ram.reasons == ["RAM: the request names no account, and there is no default account (accounts.json lists several); name one"] with input as req("rm-1")
		with data.ram as two_accounts("")
}

# applies is evaluated when the data loads: it decides which statements are
# kept.
applies_to(actions, not_actions) if ram.applies({"actions": actions, "not_actions": not_actions})

test_applies_exact_and_wildcards if {
	applies_to(["rds:releaseinstanceconnection"], [])
	applies_to(["rds:describe*", "rds:release*"], [])
	applies_to(["rds:releaseinstanceconnectio?"], [])
	applies_to(["*"], [])
	not applies_to(["rds:releaseinstanceconnection?"], [])
	not applies_to(["rds:describe*", "ecs:*"], [])
	not applies_to(["rds:releaseinstance"], [])
}

test_applies_not_action if {
	# NotAction rds:Describe* applies to every other action, ours included.
	applies_to(["*"], ["rds:describe*", "ecs:*"])

	# NotAction naming our action, exactly or by wildcard, does not apply.
	not applies_to(["*"], ["rds:releaseinstanceconnection"])
	not applies_to(["*"], ["rds:describe*", "rds:release*"])
}

test_lookup_matches_resources if {
	question := stmt("P", 1, "Allow", ["acs:rds:cn-hangzhou:111:dbinstance/rm-?"])
	ram.lookup("111", "u", arn("rm-1")) == [question] with data.ram as ram_data([question])
	ram.lookup("111", "u", arn("rm-12")) == [] with data.ram as ram_data([question])

	# Resources match case-sensitively.
	exact := stmt("P", 1, "Allow", [arn("rm-ABC")])
	ram.lookup("111", "u", arn("rm-ABC")) == [exact] with data.ram as ram_data([exact])
	ram.lookup("111", "u", arn("rm-abc")) == [] with data.ram as ram_data([exact])

	# A star crosses the colons and slashes of an ARN.
	wide := stmt("P", 1, "Allow", ["acs:rds:*"])
	ram.lookup("111", "u", arn("rm-1")) == [wide] with data.ram as ram_data([wide])

	# Unknown users and accounts have no statements.
	ram.lookup("111", "nobody", arn("rm-1")) == [] with data.ram as ram_data([wide])
	ram.lookup("222", "u", arn("rm-1")) == [] with data.ram as ram_data([wide])
}

test_lookup_keeps_order_and_lists_a_statement_once if {
	a := stmt("A", 1, "Allow", ["acs:rds:*", "*"])
	b := stmt("B", 1, "Deny", [arn("rm-2")])
	c := stmt("C", 4, "Deny", ["*rm-1"])
	ram.lookup("111", "u", arn("rm-1")) == [a, c] with data.ram as ram_data([a, b, c])
}

test_first_matching_statement_decides if {
	a := stmt("A", 3, "Allow", ["*"])
	b := stmt("B", 1, "Allow", ["*"])
	r := ram.result with input as req("rm-1") with data.ram as ram_data([a, b])
	r.policy == "A"
}

test_problems_are_reported if {
	problem := "policy P statement 1: unknown condition operator \"Foo\""
	st := object.union(stmt("P", 1, "Allow", ["*"]), {
		"conditions": [{"op": "Foo", "key": "acs:sourceip", "values": ["x"]}],
		"problems": [problem],
	})
	r := ram.result with input as req("rm-1") with data.ram as ram_data([st])
	r == {"effect": "ImplicitDeny", "policy": "", "statement": 0, "unsupported": {problem}}
	reasons := ram.reasons with input as req("rm-1") with data.ram as ram_data([st])
	reasons[1] == concat("", ["RAM: ", problem, "; the statement was ignored"])
}

test_problems_of_statements_that_do_not_match_are_not_reported if {
	st := object.union(stmt("P", 1, "Allow", [arn("rm-2")]), {"problems": ["policy P statement 1: unknown condition key \"x\""]})
	r := ram.result with input as req("rm-1") with data.ram as ram_data([allow_all, st])
	r.unsupported == set()
}
