package rdsgate.ram_test

import data.rdsgate.ram

release := "rds:releaseinstanceconnection"

public := "rds:releaseinstancepublicconnection"

probe := "acs:rds:*:111:dbinstance/*"

# st builds a compiled statement; a NotAction statement has actions ["*"].
st(policy, index, effect, actions, not_actions, resources, conditions) := {
	"policy": policy, "index": index, "effect": effect,
	"actions": actions, "not_actions": not_actions,
	"resources": resources, "conditions": conditions, "problems": [],
}

rds_all := st("AliyunRDSFullAccess", 1, "Allow", ["rds:*"], [], ["*"], [])

exact_release := st("ReleaseAny", 1, "Allow", [release], [], ["acs:rds:*:111:dbinstance/*"], [])

not_ecs := st("AllButECS", 1, "Allow", ["*"], ["ecs:*"], ["*"], [])

deny_both := st("RdsgateDenyRelease", 1, "Deny", [release, public], [], ["*"], [])

from_office := st("FromOffice", 2, "Allow", [release], [], ["*"], [cond("IpAddress", "acs:sourceip", ["203.0.113.0/24"])])

# The lock-down control policy: deny everyone but the gateway's role.
but_gateway := st("ControlPolicy", 1, "Deny", [release, public], [], ["*"], [cond(
	"StringNotLike", "acs:principalarn",
	["acs:ram:*:111:role/rdsgate-gateway"],
)])

as_principal(arn) := {"context": {"principal_arn": arn}}

test_order_exact_then_wildcard_then_not_action if {
	a := ram.analysis([not_ecs, rds_all, exact_release], release, probe)
	a.effect == "Allow"
	[g.policy | some g in a.allows] == ["ReleaseAny", "AliyunRDSFullAccess", "AllButECS"]
	a.by.policy == "ReleaseAny"
	a.by.statement == 1
	a.by.resources == ["acs:rds:*:111:dbinstance/*"]
}

test_other_action_and_resource if {
	# The public-connection action is not listed by ReleaseAny.
	a := ram.analysis([exact_release], public, probe)
	a == {"effect": "ImplicitDeny", "by": null, "allows": [], "limits": []}

	# A NotAction excluding rds:* does not apply.
	ram.analysis([st("NoRDS", 1, "Allow", ["*"], ["rds:*"], ["*"], [])], release, probe).effect == "ImplicitDeny"

	# Another account's instances do not match.
	ram.analysis([exact_release], release, "acs:rds:*:222:dbinstance/*").effect == "ImplicitDeny"

	# sts:AssumeRole on a role ARN.
	assume := st("AssumeOp", 1, "Allow", ["sts:assumerole"], [], ["acs:ram:*:111:role/op"], [])
	ram.analysis([assume], "sts:assumerole", "acs:ram::111:role/op").effect == "Allow"
	ram.analysis([assume], "sts:assumerole", "acs:ram::111:role/admin").effect == "ImplicitDeny"
}

test_unconditional_deny_removes_every_allow if {
	a := ram.analysis([rds_all, deny_both], public, probe)
	a.effect == "ExplicitDeny"
	a.by.policy == "RdsgateDenyRelease"
	a.allows == []
}

test_open_conditions_are_reported if {
	a := ram.analysis([from_office], release, probe)
	a.effect == "Allow"
	[c.key | some c in a.by.conditions] == ["acs:sourceip"]
}

test_conditional_deny_is_a_limit if {
	off_site := st("DenyOffSite", 1, "Deny", [release], [], ["*"], [cond("NotIpAddress", "acs:sourceip", ["10.0.0.0/8"])])
	a := ram.analysis([rds_all, off_site], release, probe)
	a.effect == "Allow"
	[l.policy | some l in a.limits] == ["DenyOffSite"]
}

test_principal_arn_is_settled if {
	# Everyone but the gateway's role is denied outright ...
	a := ram.analysis([rds_all, but_gateway], release, probe) with input as as_principal("acs:ram::111:user/alice")
	a.effect == "ExplicitDeny"

	# ... the gateway's role is not, and the condition is not shown as open.
	g := ram.analysis([rds_all, but_gateway], release, probe) with input as as_principal("acs:ram::111:role/rdsgate-gateway")
	g.effect == "Allow"
	g.limits == []

	# An Allow for the gateway's role only.
	only := st("OnlyGateway", 1, "Allow", [release], [], ["*"], [cond("StringLike", "acs:principalarn", ["acs:ram::111:role/rdsgate-*"])])
	ram.analysis([only], release, probe).effect == "Allow" with input as as_principal("acs:ram::111:role/rdsgate-gateway")
	ram.analysis([only], release, probe).effect == "ImplicitDeny" with input as as_principal("acs:ram::111:user/bob")
}

test_unknown_operator_on_a_principal_key_stays_open if {
	odd := st("Odd", 1, "Deny", [release], [], ["*"], [cond("StringNotLikeIfExists", "acs:principalarn", ["x"])])
	a := ram.analysis([rds_all, odd], release, probe) with input as as_principal("acs:ram::111:user/alice")
	a.effect == "Allow"
	[l.policy | some l in a.limits] == ["Odd"]
}
