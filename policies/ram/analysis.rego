# RAM analysis, for `rdsgate ram analyze`.
#
# Who may call an action, not whether one request may: the same RAM
# semantics as the decision (ram.rego, conditions.rego), evaluated for
# any principal's statements, any action and any resource, as
# internal/policy's Analyzer asks. The statements are in the compiled form
# ram.rego reads (policies/README.md), passed as arguments; the principal
# analysed is input.context.principal_arn.
#
# A request is not known in advance, so a condition is either settled or
# open. Settled: its key is the principal's own (principal_keys) and its
# operator is one RAM documents; it holds or not for this principal. Open:
# every other condition (the source address, the time, MFA, a key the
# mirror does not know); some request may satisfy it, so an Allow with an
# open condition is reported with that condition, and a Deny with one
# denies only some requests and removes nothing.
package rdsgate.ram

# principal_keys are the condition keys whose value is the analysed
# principal's, known before any request: acs:PrincipalARN, which Alibaba's
# Resource Directory control policies use to except a role
# (policies/lockdown/README.md cites the documentation).
principal_keys := {"acs:principalarn"}

# principal_value is the analysed principal's value of a principal key, null
# when the analysis gives none.
principal_value(key) := object.get(input.context, "principal_arn", null) if key == "acs:principalarn"

# relevant(statements, act, arn) are the statements that concern action act
# (lower-cased) and one of whose Resource patterns matches arn, in the order
# RAM reports them: those listing act exactly, then wildcard ones, then
# NotAction ones, each in the given order.
relevant(statements, act, arn) := array.concat(array.concat(exact, by_wildcard), by_not_action) if {
	matching := [st |
		some st in statements
		applies_to(st, act)
		resource_matches(st.resources, arn)
	]
	exact := [st | some st in matching; count(st.not_actions) == 0; act in st.actions]
	by_wildcard := [st | some st in matching; count(st.not_actions) == 0; not act in st.actions]
	by_not_action := [st | some st in matching; count(st.not_actions) > 0]
}

# settled_condition(c) holds when c's outcome is known for the principal.
settled_condition(c) if {
	c.key in principal_keys
	c.op in operators
}

# settled_hold(st) holds when every settled condition of st holds.
settled_hold(st) if {
	every c in st.conditions {
		settled_holds(c)
	}
}

settled_holds(c) if not settled_condition(c)

settled_holds(c) if {
	settled_condition(c)
	condition_holds(c.op, c, principal_value(c.key))
}

# grant describes a statement that may take effect: its policy, its number,
# its Resource patterns and its open conditions, which some requests satisfy.
grant(st) := {
	"policy": st.policy, "statement": st.index, "resources": st.resources,
	"conditions": [c | some c in st.conditions; not settled_condition(c)],
}

# analysis(statements, act, arn) is RAM's verdict on act over arn for a
# principal whose statements these are:
#
# - effect: "ExplicitDeny" when a Deny with no open condition matches,
#   else "Allow" when some Allow may take effect, else "ImplicitDeny";
# - by: the statement that decides (the first such Deny or Allow), null
#   for an implicit deny;
# - allows: every Allow that may take effect (with its open conditions),
#   in RAM's order;
# - limits: the matching Deny statements with open conditions, which
#   deny the requests that satisfy them.
analysis(statements, act, arn) := verdict(
	[grant(st) | some st in candidates; st.effect == "Allow"; settled_hold(st)],
	[grant(st) | some st in candidates; st.effect == "Deny"; settled_hold(st)],
) if {
	candidates := relevant(statements, act, arn)
}

verdict(allows, denies) := {"effect": "ExplicitDeny", "by": by, "allows": [], "limits": []} if {
	by := [d | some d in denies; count(d.conditions) == 0][0]
} else := {"effect": "Allow", "by": allows[0], "allows": allows, "limits": limits} if {
	count(allows) > 0
	limits := [d | some d in denies; count(d.conditions) > 0]
} else := {"effect": "ImplicitDeny", "by": null, "allows": [], "limits": []}
