# METADATA
# title: RAM identity-policy evaluation
# description: |
#   Decides rds:ReleaseInstanceConnection for the requesting RAM user the way
#   Alibaba Cloud RAM does: an explicit Deny beats any Allow, and no matching
#   Allow is an implicit deny.
#
#   It reads data.ram, the compiled form of ram.json that internal/policy
#   builds when it loads the data (see policies/README.md). The compiler
#   already turned single values into lists, lower-cased actions, split exact
#   values from wildcard patterns, resolved each user's policies (its own,
#   then its groups') and split each policy's statements by effect, so that
#   this package looks the user up by key and scans only that user's
#   statements.
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

subject := input.principal.subject

# user is the requester's entry in the RAM data; undefined for an unknown
# subject, which RAM denies implicitly.
user := data.ram.users[subject]

# denies lists the Deny statements that apply, in policy order.
denies := [{"policy": name, "statement": st.index} |
	some name in user.policies
	some st in data.ram.policies[name].deny
	applies(st)
]

# allows lists the Allow statements that apply, in policy order.
allows := [{"policy": name, "statement": st.index} |
	some name in user.policies
	some st in data.ram.policies[name].allow
	applies(st)
]

applies(st) if {
	action_matches(st)
	resource_matches(st)
	conditions_hold(st)
}

action_matches(st) if {
	not st.not_action
	action_listed(st)
}

action_matches(st) if {
	st.not_action
	not action_listed(st)
}

action_listed(st) if st.actions[action]

action_listed(st) if {
	some pattern in st.action_globs
	glob.match(pattern, null, action)
}

resource_matches(st) if st.any_resource

resource_matches(st) if st.resources[resource]

resource_matches(st) if {
	some pattern in st.resource_globs
	glob.match(pattern, null, resource)
}

# unsupported names every condition that RAM semantics cannot evaluate here
# (an unknown operator or key) in a statement whose action and resource
# match. Such a statement never matches; the decision reports it.
unsupported contains sprintf("policy %s statement %d: %s", [name, st.index, problem]) if {
	some name in user.policies
	some effect in ["deny", "allow"]
	some st in data.ram.policies[name][effect]
	st.conditions
	action_matches(st)
	resource_matches(st)
	some c in st.conditions
	problem := condition_problem(c)
}

# result is the RAM verdict: the effect and the policy and statement (1-based)
# that decided it.
result := {
	"effect": "ExplicitDeny",
	"policy": d.policy,
	"statement": d.statement,
	"unsupported": unsupported,
} if {
	d := denies[0]
} else := {
	"effect": "Allow",
	"policy": a.policy,
	"statement": a.statement,
	"unsupported": unsupported,
} if {
	a := allows[0]
} else := {
	"effect": "ImplicitDeny",
	"policy": "",
	"statement": 0,
	"unsupported": unsupported,
}

# reasons explains result in sentences, the verdict first.
reasons := array.concat([verdict], [sprintf("RAM: %s; the statement was ignored", [u]) | some u in unsupported])

verdict := sprintf("RAM: user %q is not defined in the RAM data, so RAM denies implicitly", [subject]) if {
	not user
} else := sprintf("RAM: explicit deny by policy %s statement %d", [result.policy, result.statement]) if {
	result.effect == "ExplicitDeny"
} else := sprintf("RAM: allowed by policy %s statement %d", [result.policy, result.statement]) if {
	result.effect == "Allow"
} else := sprintf("RAM: implicit deny: no statement in the policies of %s allows rds:ReleaseInstanceConnection on %s", [subject, resource])
