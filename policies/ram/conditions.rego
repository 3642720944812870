# RAM policy conditions.
#
# The Condition block of a RAM statement: every (operator, key) pair must
# hold (AND); the values of one key are alternatives (OR). The compiler has
# lower-cased the keys, since condition keys match case-insensitively.
#
# A key absent from the request makes a positive operator false and a
# negated operator (StringNotEquals, NotIpAddress, ...) true, as in AWS IAM;
# RAM's documentation does not say otherwise. An operator or key this
# package does not know makes the condition false, and `unsupported`
# reports it.
package rdsgate.ram

# operators are the condition operators RAM documents.
operators := {
	"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
	"StringLike", "StringNotLike",
	"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
	"NumericGreaterThan", "NumericGreaterThanEquals",
	"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
	"DateGreaterThan", "DateGreaterThanEquals",
	"Bool", "IpAddress", "NotIpAddress",
}

# tag_key_prefix names an instance tag: rds:ResourceTag/<tag key>.
tag_key_prefix := "rds:resourcetag/"

# global_keys are the common keys rdsgate takes from the request's context.
global_keys := {"acs:sourceip", "acs:currenttime", "acs:securetransport", "acs:mfapresent"}

# condition_problems(conditions) says, for each condition that cannot be
# evaluated, why. It does not depend on the request; internal/policy
# evaluates it when it loads the data and keeps the sentences, prefixed with
# the policy and statement, as each statement's `problems`.
condition_problems(conditions) := [problem |
	some c in conditions
	problem := condition_problem(c)
]

condition_problem(c) := sprintf("unknown condition operator %q", [c.op]) if {
	not c.op in operators
} else := sprintf("unknown condition key %q", [c.key]) if {
	not c.key in global_keys
	not startswith(c.key, tag_key_prefix)
}

# request_value is the request's value of a condition key, as a string, or
# null when the request lacks it: the global keys come from input.context,
# rds:ResourceTag/<key> from the instance's tags (which the compiler has
# keyed that way). It is undefined for a key rdsgate does not know.
#
# The functions below compare their first argument in the body (key == ...,
# op == ...), not in the head: OPA's rule index selects function bodies by
# such equalities, while constant arguments in the head would have every
# body tried in turn.
request_value(key) := source_ip if key == "acs:sourceip"

request_value(key) := object.get(input.context, "current_time", null) if key == "acs:currenttime"

request_value(key) := json.marshal(object.get(input.context, "secure_transport", false) == true) if {
	key == "acs:securetransport"
}

request_value(key) := json.marshal(object.get(input.context, "mfa_present", false) == true) if key == "acs:mfapresent"

request_value(key) := object.get(data.ram.resource_tags, [input.request.db_instance_id, key], null) if {
	startswith(key, "rds:resourcetag/")
}

source_ip := input.context.source_ip if {
	input.context.source_ip != ""
} else := null

# condition_holds applies operator op of condition c to the request's value.
# The compiler has prepared the condition's values once: c.lower holds them
# lower-cased, c.globs as glob.match patterns, and c.numbers, c.dates
# (nanoseconds since the epoch) and c.cidrs those that parse as numbers,
# ISO 8601 times and IP addresses or networks.
#
# An absent value (null) satisfies exactly the negated operators.
condition_holds(op, _, value) if {
	value == null
	op in {
		"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike",
		"NumericNotEquals", "DateNotEquals", "NotIpAddress",
	}
}

condition_holds(op, c, value) if {
	op == "StringEquals"
	value in c.values
}

condition_holds(op, c, value) if {
	op == "StringNotEquals"
	not value in c.values
}

condition_holds(op, c, value) if {
	op == "StringEqualsIgnoreCase"
	lower(value) in c.lower
}

condition_holds(op, c, value) if {
	op == "StringNotEqualsIgnoreCase"
	not lower(value) in c.lower
}

condition_holds(op, c, value) if {
	op == "StringLike"
	is_string(value)
	some pattern in c.globs
	glob.match(pattern, null, value)
}

condition_holds(op, c, value) if {
	op == "StringNotLike"
	every pattern in c.globs {
		not glob.match(pattern, null, value)
	}
}

condition_holds(op, c, value) if {
	op == "Bool"
	lower(value) in c.lower
}

condition_holds(op, c, value) if {
	op == "IpAddress"
	is_string(value)
	some cidr in c.cidrs
	net.cidr_contains(cidr, value)
}

condition_holds(op, c, value) if {
	op == "NotIpAddress"
	every cidr in c.cidrs {
		not net.cidr_contains(cidr, value)
	}
}

condition_holds(op, c, value) if {
	op == "NumericEquals"
	number(value) in c.numbers
}

condition_holds(op, c, value) if {
	op == "NumericNotEquals"
	n := number(value)
	not n in c.numbers
}

condition_holds(op, c, value) if {
	op == "NumericLessThan"
	number(value) < max(c.numbers)
}

condition_holds(op, c, value) if {
	op == "NumericLessThanEquals"
	number(value) <= max(c.numbers)
}

condition_holds(op, c, value) if {
	op == "NumericGreaterThan"
	number(value) > min(c.numbers)
}

condition_holds(op, c, value) if {
	op == "NumericGreaterThanEquals"
	number(value) >= min(c.numbers)
}

condition_holds(op, c, value) if {
	op == "DateEquals"
	date_ns(value) in c.dates
}

condition_holds(op, c, value) if {
	op == "DateNotEquals"
	t := date_ns(value)
	not t in c.dates
}

condition_holds(op, c, value) if {
	op == "DateLessThan"
	date_ns(value) < max(c.dates)
}

condition_holds(op, c, value) if {
	op == "DateLessThanEquals"
	date_ns(value) <= max(c.dates)
}

condition_holds(op, c, value) if {
	op == "DateGreaterThan"
	date_ns(value) > min(c.dates)
}

condition_holds(op, c, value) if {
	op == "DateGreaterThanEquals"
	date_ns(value) >= min(c.dates)
}

# number reads a request value as a number; undefined for anything else.
number(value) := to_number(value) if is_string(value)

# date_ns reads the request's time, RFC 3339.
date_ns(value) := time.parse_rfc3339_ns(value)
