# METADATA
# title: RAM identity-policy evaluation
# description: |
#   Decides rds:ReleaseInstanceConnection for the requesting RAM user the way
#   Alibaba Cloud RAM does: an explicit Deny beats any Allow, and no matching
#   Allow is an implicit deny.
#
#   It reads data.ram, the compiled form of ram.json that internal/policy
#   builds when it loads the data (policies/README.md describes it). The
#   compiler has resolved each user's policies (its own, then its groups'),
#   turned single values into lists, lower-cased actions, escaped resource
#   patterns for glob.match, and indexed each user's statements by the exact
#   actions they list (by_action); statements that name the action only by a
#   wildcard (by_glob) or by NotAction (not_action) are kept apart. It drops
#   statements that cannot match the action decided here. So this package
#   looks the user up by key and reads only that user's statements about
#   this action.
package rdsgate.ram

# action is the RAM action rdsgate asks about, lower-cased because RAM matches
# actions case-insensitively.
action := "rds:releaseinstanceconnection"

# resource is the ARN of the instance named in the request. Resources match
# case-sensitively.
resource := concat("", [
	"acs:rds:", input.request.region_id, ":", data.ram.account_id,
	":dbinstance/", input.request.db_instance_id,
])

# user is the requester's entry in the RAM data; undefined for an unknown
# subject, which RAM denies implicitly.
user := data.ram.users[input.principal.subject]

# candidates are the user's statements whose action and resource match:
# those listing the action exactly, then those matching it by a wildcard,
# then those not excluding it by NotAction, each in policy order. Their
# conditions decide. (A statement may appear twice when several of its
# patterns match; only the first candidate of each effect is reported.)
candidates := array.concat(
	array.concat(
		[st |
			some st in user.by_action[action]
			some pattern in st.resources
			glob.match(pattern, null, resource)
		],
		[st |
			some st in user.by_glob
			some action_pattern in st.action_globs
			glob.match(action_pattern, null, action)
			some pattern in st.resources
			glob.match(pattern, null, resource)
		],
	),
	[st |
		some st in user.not_action
		not listed(st)
		some pattern in st.resources
		glob.match(pattern, null, resource)
	],
)

# listed reports whether a NotAction statement names the action.
listed(st) if st.actions[action]

listed(st) if {
	some pattern in st.action_globs
	glob.match(pattern, null, action)
}

# denies and allows are the candidates whose conditions hold, by effect.
denies := [st |
	some st in candidates
	st.effect == "Deny"
	conditions_hold(st)
]

allows := [st |
	some st in candidates
	st.effect == "Allow"
	conditions_hold(st)
]

# unsupported names every condition of a candidate that RAM semantics cannot
# evaluate here (an unknown operator or key). Such a condition never holds,
# so its statement never matches; the decision reports it.
unsupported contains sprintf("policy %s statement %d: %s", [st.policy, st.index, problem]) if {
	some st in candidates
	some c in st.conditions
	problem := condition_problem(c)
}

# result is the RAM verdict: the effect and the policy and statement (from 1)
# that decided it.
result := {
	"effect": "ExplicitDeny",
	"policy": denies[0].policy,
	"statement": denies[0].index,
	"unsupported": unsupported,
} if {
	denies[0]
} else := {
	"effect": "Allow",
	"policy": allows[0].policy,
	"statement": allows[0].index,
	"unsupported": unsupported,
} if {
	allows[0]
} else := {
	"effect": "ImplicitDeny",
	"policy": "",
	"statement": 0,
	"unsupported": unsupported,
}

# reasons explains result in sentences, the verdict first.
reasons := array.concat([verdict], [sprintf("RAM: %s; the statement was ignored", [u]) | some u in unsupported])

verdict := sprintf("RAM: user %q is not defined in the RAM data, so RAM denies implicitly", [input.principal.subject]) if {
	not user
} else := sprintf("RAM: explicit deny by policy %s statement %d", [result.policy, result.statement]) if {
	result.effect == "ExplicitDeny"
} else := sprintf("RAM: allowed by policy %s statement %d", [result.policy, result.statement]) if {
	result.effect == "Allow"
} else := sprintf(
	"RAM: implicit deny: no statement in the policies of %s allows rds:ReleaseInstanceConnection on %s",
	[input.principal.subject, resource],
)
