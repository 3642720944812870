# METADATA
# title: RAM policy conditions
# description: |
#   The Condition block of a RAM statement: every (operator, key) pair must
#   hold (AND); the values of one key are alternatives (OR). The compiler has
#   lower-cased the keys, since condition keys match case-insensitively.
#
#   A key absent from the request makes a positive operator false and a
#   negated operator (StringNotEquals, NotIpAddress, ...) true, as in AWS IAM;
#   RAM's documentation does not say otherwise. An operator or key this
#   package does not know makes the condition false, and `unsupported`
#   reports it.
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
	value := context_values[c.key]
	value_matches(c.op, c, value)
}

condition_holds(c) if {
	negated_operators[c.op]
	known_key(c.key)
	not context_values[c.key]
}

# context_values are the request's values of the condition keys, as strings:
# the global keys from input.context and rds:ResourceTag/<key> from the
# instance's tags. An absent value has no key.
context_values := object.union(
	{key: value |
		some key, value in {
			"acs:sourceip": object.get(input.context, "source_ip", ""),
			"acs:currenttime": object.get(input.context, "current_time", ""),
			"acs:securetransport": bool_string(object.get(input.context, "secure_transport", false)),
			"acs:mfapresent": bool_string(object.get(input.context, "mfa_present", false)),
		}
		value != ""
	},
	{concat("", [tag_key_prefix, key]): value |
		some key, value in data.ram.resource_tags[input.request.db_instance_id]
	},
)

bool_string(b) := "true" if b == true

bool_string(b) := "false" if b != true

value_matches("StringEquals", c, value) if value in c.values

value_matches("StringNotEquals", c, value) if not value in c.values

value_matches("StringEqualsIgnoreCase", c, value) if equals_ignore_case(c.values, value)

value_matches("StringNotEqualsIgnoreCase", c, value) if not equals_ignore_case(c.values, value)

value_matches("StringLike", c, value) if like(c.globs, value)

value_matches("StringNotLike", c, value) if not like(c.globs, value)

value_matches("Bool", c, value) if equals_ignore_case(c.values, value)

value_matches("IpAddress", c, value) if ip_in(c.values, value)

value_matches("NotIpAddress", c, value) if not ip_in(c.values, value)

value_matches(op, c, value) if {
	startswith(op, "Numeric")
	comparison := trim_prefix(op, "Numeric")
	comparison != "NotEquals"
	n := to_number(value)
	some v in c.values
	compare(comparison, n, to_number(v))
}

value_matches("NumericNotEquals", c, value) if {
	n := to_number(value)
	every v in c.values {
		to_number(v) != n
	}
}

value_matches(op, c, value) if {
	startswith(op, "Date")
	comparison := trim_prefix(op, "Date")
	comparison != "NotEquals"
	t := date_ns(value)
	some v in c.values
	compare(comparison, t, date_ns(v))
}

value_matches("DateNotEquals", c, value) if {
	t := date_ns(value)
	every v in c.values {
		date_ns(v) != t
	}
}

equals_ignore_case(values, value) if {
	some v in values
	lower(v) == lower(value)
}

like(globs, value) if {
	some pattern in globs
	glob.match(pattern, null, value)
}

ip_in(values, ip) if {
	some v in values
	net.cidr_contains(cidr(v), ip)
}

# cidr turns a single address into a one-address network.
cidr(v) := v if contains(v, "/")

cidr(v) := concat("", [v, "/32"]) if {
	not contains(v, "/")
	not contains(v, ":")
}

cidr(v) := concat("", [v, "/128"]) if {
	not contains(v, "/")
	contains(v, ":")
}

# date_ns reads an ISO 8601 time (RFC 3339) or a plain date (UTC midnight).
date_ns(s) := time.parse_rfc3339_ns(s) if contains(s, "T")

date_ns(s) := time.parse_ns("2006-01-02", s) if not contains(s, "T")

compare("Equals", a, b) if a == b

compare("LessThan", a, b) if a < b

compare("LessThanEquals", a, b) if a <= b

compare("GreaterThan", a, b) if a > b

compare("GreaterThanEquals", a, b) if a >= b
