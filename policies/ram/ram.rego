# METADATA
# title: RAM identity-policy evaluation
# description: |
#   Decides rds:ReleaseInstanceConnection for the requesting RAM user the way
#   Alibaba Cloud RAM does: an explicit Deny beats any Allow, and no matching
#   Allow is an implicit deny.
#
#   It reads data.ram, the compiled form of ram.json (and, with several
#   Alibaba Cloud accounts, of accounts.json and ram/<account_id>.json) that
#   internal/policy builds when it loads the data (policies/README.md
#   describes it). The request's account is the one it names, else the
#   default account; each account has its own users and statements. The
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

# account is the Alibaba Cloud account (UID) of the request: the one it
# names, else the default account (data.ram.account_id, "" when accounts.json
# lists several and none is the default).
account := input.request.account_id if {
	input.request.account_id != ""
} else := data.ram.account_id

# resource is the ARN of the instance named in the request. Resources match
# case-sensitively.
resource := concat("", [
	"acs:rds:", input.request.region_id, ":", account,
	":dbinstance/", input.request.db_instance_id,
])

# account_data is the RAM data of the request's account; undefined for an
# account that is not configured, which RAM denies implicitly.
account_data := data.ram.accounts[account]

# user is the requester's entry in the account's RAM data; undefined for an
# unknown subject, which RAM denies implicitly.
user := account_data.users[input.principal.subject]

# applies(st) reports whether statement st concerns the action: one of its
# `actions` patterns matches it and none of its `not_actions` does (a
# NotAction statement has actions ["*"] and its NotAction list). It does not
# depend on the request; internal/policy evaluates it when it loads the data
# and keeps only the statements that apply.
applies(st) if applies_to(st, action)

# applies_to(st, act) is applies for any lower-cased action act: `rdsgate ram
# analyze` asks about rds:releaseinstancepublicconnection and sts:assumerole
# too (analysis.rego).
applies_to(st, act) if {
	some pattern in st.actions
	glob.match(pattern, null, act)
	every excluded in st.not_actions {
		not glob.match(excluded, null, act)
	}
}

# lookup(account_id, subject, arn) is the statements of user subject in the
# RAM data of account account_id, in order, one of whose Resource patterns
# matches arn; [] for an account or user that is not configured.
# internal/policy evaluates the same function from an index it builds when
# it loads the data (the statements then live in that index rather than in
# data.ram.accounts[_].users[_].statements); this definition is the
# reference, and what an OPA server given the same data evaluates.
lookup(account_id, subject, arn) := [st |
	some st in data.ram.accounts[account_id].users[subject].statements
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
candidates := lookup(account, input.principal.subject, resource)

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

implicit_deny := unknown_account if {
	not account_data
} else := sprintf("RAM: user %q is not defined in the RAM data, so RAM denies implicitly", [input.principal.subject]) if {
	not user
} else := sprintf(
	"RAM: implicit deny: no statement in the policies of %s allows rds:ReleaseInstanceConnection on %s",
	[input.principal.subject, resource],
)

# unknown_account says why the request's account has no RAM data: it names
# none and there is no default, or accounts.json (or, without it, the one
# configured account) does not list it.
unknown_account := "RAM: the request names no account, and there is no default account (accounts.json lists several); name one" if {
	account == ""
} else := sprintf("RAM: account %s is not in accounts.json", [account]) if {
	data.ram.accounts_json
} else := sprintf("RAM: account %s is not the configured account %s", [account, data.ram.account_id])

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
