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

# negated_operators hold when the key is absent from the request.
negated_operators := {
	"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike",
	"NumericNotEquals", "DateNotEquals", "NotIpAddress",
}

# global_keys are the common keys rdsgate takes from the request's context.
global_keys := {"acs:sourceip", "acs:currenttime", "acs:securetransport", "acs:mfapresent"}

# tag_key_prefix names an instance tag: rds:ResourceTag/<tag key>.
tag_key_prefix := "rds:resourcetag/"

known_key(key) if global_keys[key]

known_key(key) if startswith(key, tag_key_prefix)

condition_problem(c) := sprintf("unknown condition operator %q", [c.op]) if {
	not operators[c.op]
} else := sprintf("unknown condition key %q", [c.key]) if {
	not known_key(c.key)
}

conditions_hold(st) if not st.conditions

conditions_hold(st) if {
	st.conditions
	every c in st.conditions {
		condition_holds(c)
	}
}

condition_holds(c) if {
	value := context_value(c.key)
	value_matches(c.op, c, value)
}

condition_holds(c) if {
	negated_operators[c.op]
	known_key(c.key)
	not context_value(c.key)
}

# context_value is the request's value of a condition key, as a string: the
# global keys come from input.context, rds:ResourceTag/<key> from the
# instance's tags. It is undefined for a value the request does not have.
context_value("acs:sourceip") := input.context.source_ip if input.context.source_ip != ""

context_value("acs:currenttime") := input.context.current_time

context_value("acs:securetransport") := "true" if {
	input.context.secure_transport == true
} else := "false"

context_value("acs:mfapresent") := "true" if {
	input.context.mfa_present == true
} else := "false"

context_value(key) := data.ram.resource_tags[input.request.db_instance_id][substring(key, count(tag_key_prefix), -1)] if {
	startswith(key, tag_key_prefix)
}

# value_matches applies operator op of condition c to the request's value.
# The compiler has parsed the condition's values once: c.numbers, c.dates
# (nanoseconds since the epoch) and c.cidrs hold those that parse as
# numbers, ISO 8601 times and IP addresses or networks.
value_matches("StringEquals", c, value) if value in c.values

value_matches("StringNotEquals", c, value) if not value in c.values

value_matches("StringEqualsIgnoreCase", c, value) if equals_ignore_case(c.values, value)

value_matches("StringNotEqualsIgnoreCase", c, value) if not equals_ignore_case(c.values, value)

value_matches("StringLike", c, value) if like(c.globs, value)

value_matches("StringNotLike", c, value) if not like(c.globs, value)

value_matches("Bool", c, value) if equals_ignore_case(c.values, value)

value_matches("IpAddress", c, value) if ip_in(c.cidrs, value)

value_matches("NotIpAddress", c, value) if not ip_in(c.cidrs, value)

value_matches("NumericEquals", c, value) if to_number(value) in c.numbers

value_matches("NumericNotEquals", c, value) if {
	n := to_number(value)
	not n in c.numbers
}

value_matches("NumericLessThan", c, value) if to_number(value) < max(c.numbers)

value_matches("NumericLessThanEquals", c, value) if to_number(value) <= max(c.numbers)

value_matches("NumericGreaterThan", c, value) if to_number(value) > min(c.numbers)

value_matches("NumericGreaterThanEquals", c, value) if to_number(value) >= min(c.numbers)

value_matches("DateEquals", c, value) if date_ns(value) in c.dates

value_matches("DateNotEquals", c, value) if {
	t := date_ns(value)
	not t in c.dates
}

value_matches("DateLessThan", c, value) if date_ns(value) < max(c.dates)

value_matches("DateLessThanEquals", c, value) if date_ns(value) <= max(c.dates)

value_matches("DateGreaterThan", c, value) if date_ns(value) > min(c.dates)

value_matches("DateGreaterThanEquals", c, value) if date_ns(value) >= min(c.dates)

equals_ignore_case(values, value) if {
	some v in values
	lower(v) == lower(value)
}

like(globs, value) if {
	some pattern in globs
	glob.match(pattern, null, value)
}

ip_in(cidrs, ip) if {
	some cidr in cidrs
	net.cidr_contains(cidr, ip)
}

# date_ns reads the request's time, RFC 3339.
date_ns(s) := time.parse_rfc3339_ns(s)
