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
#   turned single values into lists, lower-cased actions and escaped resource
#   patterns for glob.match. It has also evaluated, once per statement, the
#   parts of this package that do not depend on the request: `applies` (only
#   the statements that concern this action are kept, in the order RAM
#   reports them) and `condition_problems` (kept as each statement's
#   `problems`).
#
#   So a decision looks the user up by key, asks `lookup` for the user's
#   statements whose Resource matches the instance (usually none to three),
#   and decides on those: conditions, deny over allow, the statement reported.
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

# applies(st) reports whether statement st concerns the action: one of its
# `actions` patterns matches it and none of its `not_actions` does (a
# NotAction statement has actions ["*"] and its NotAction list). It does not
# depend on the request; internal/policy evaluates it when it loads the data
# and keeps only the statements that apply.
applies(st) if {
	some pattern in st.actions
	glob.match(pattern, null, action)
	every excluded in st.not_actions {
		not glob.match(excluded, null, action)
	}
}

# lookup(subject, arn) is the statements of user subject, in order, one of
# whose Resource patterns matches arn. internal/policy evaluates the same
# function from an index it builds when it loads the data (the statements
# then live in that index rather than in data.ram.users[_].statements); this
# definition is the reference, and what an OPA server given the same data
# evaluates.
lookup(subject, arn) := [st |
	some st in data.ram.users[subject].statements
	resource_matches(st.resources, arn)
]

resource_matches(patterns, arn) if {
	some pattern in patterns
	glob.match(pattern, null, arn)
}

# candidates are the user's statements whose resource (and, by construction
# of the data, action) match, in the order RAM reports them: those listing
# the action exactly first, then wildcard ones, then NotAction ones, each in
# policy order.
candidates := lookup(input.principal.subject, resource)

# first_deny and first_allow are the first candidates of each effect whose
# conditions all hold. first_allow is only looked for when no deny applies.
first_deny := [st |
	some st in candidates
	st.effect == "Deny"
	every c in st.conditions {
		condition_holds(c.op, c, request_value(c.key))
	}
][0]

first_allow := [st |
	some st in candidates
	st.effect == "Allow"
	every c in st.conditions {
		condition_holds(c.op, c, request_value(c.key))
	}
][0]

# outcome is the RAM verdict, `result` (the effect, the policy and statement
# (from 1) that decided it, and the conditions that could not be evaluated),
# and the sentence that says it.
outcome := {
	"result": {"effect": "ExplicitDeny", "policy": st.policy, "statement": st.index, "unsupported": unsupported},
	"verdict": sprintf("RAM: explicit deny by policy %s statement %d", [st.policy, st.index]),
} if {
	st := first_deny
} else := {
	"result": {"effect": "Allow", "policy": st.policy, "statement": st.index, "unsupported": unsupported},
	"verdict": sprintf("RAM: allowed by policy %s statement %d", [st.policy, st.index]),
} if {
	st := first_allow
} else := {
	"result": {"effect": "ImplicitDeny", "policy": "", "statement": 0, "unsupported": unsupported},
	"verdict": implicit_deny,
}

implicit_deny := sprintf("RAM: user %q is not defined in the RAM data, so RAM denies implicitly", [input.principal.subject]) if {
	not user
} else := sprintf(
	"RAM: implicit deny: no statement in the policies of %s allows rds:ReleaseInstanceConnection on %s",
	[input.principal.subject, resource],
)

result := outcome.result

# unsupported names every condition of a candidate that RAM semantics cannot
# evaluate here (an unknown operator or key), from the statements' problems.
# Such a condition never holds, so its statement never matches; the decision
# reports it.
unsupported := {problem |
	some st in candidates
	some problem in st.problems
}

# reasons explains result in sentences, the verdict first.
reasons := [verdict] if {
	verdict := outcome.verdict
	count(unsupported) == 0
} else := array.concat([outcome.verdict], [sprintf("RAM: %s; the statement was ignored", [u]) | some u in unsupported])

# answer is what the release decision reads of RAM: the verdict and the
# sentences that explain it.
answer := {"result": result, "reasons": reasons}
