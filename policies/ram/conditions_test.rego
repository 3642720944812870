package rdsgate.ram_test

import data.rdsgate.ram

cond(op, key, values) := c if {
	c := {
		"op": op,
		"key": key,
		"values": values,
		"lower": [lower(v) | some v in values],
		"globs": values,
		"numbers": [to_number(v) | some v in values; regex.match(`^-?[0-9.]+$`, v)],
		"dates": [time.parse_rfc3339_ns(v) | some v in values; contains(v, "T")],
		"cidrs": [v | some v in values; contains(v, "/")],
	}
}

with_conditions(conds) := ram_data([object.union(allow_all, {"conditions": conds})])

ctx_req(ctx) := object.union(req("rm-1"), {"context": ctx})

base_ctx := {"current_time": "2026-01-02T03:04:05Z", "secure_transport": true, "mfa_present": false, "source_ip": "10.1.2.3"}

allowed(conds, ctx) if {
	ram.result.effect == "Allow" with input as ctx_req(ctx) with data.ram as with_conditions(conds)
}

# tagged: the instance has tags (the compiler keys them as condition keys).
tagged(conds, tags) if {
	keyed := {concat("", ["rds:resourcetag/", k]): v | some k, v in tags}
	data_ram := object.union(with_conditions(conds), {"resource_tags": {"rm-1": keyed}})
	ram.result.effect == "Allow" with input as req("rm-1") with data.ram as data_ram
}

test_string_operators if {
	allowed([cond("StringEquals", "acs:sourceip", ["10.1.2.3"])], base_ctx)
	not allowed([cond("StringEquals", "acs:sourceip", ["10.1.2.4"])], base_ctx)
	allowed([cond("StringNotEquals", "acs:sourceip", ["10.1.2.4"])], base_ctx)
	not allowed([cond("StringNotEquals", "acs:sourceip", ["10.1.2.3"])], base_ctx)
}

test_values_of_one_key_are_ored if {
	allowed([cond("StringEquals", "acs:sourceip", ["10.9.9.9", "10.1.2.3"])], base_ctx)
}

test_conditions_are_anded if {
	allowed([cond("Bool", "acs:securetransport", ["true"]), cond("Bool", "acs:mfapresent", ["false"])], base_ctx)
	not allowed([cond("Bool", "acs:securetransport", ["true"]), cond("Bool", "acs:mfapresent", ["true"])], base_ctx)
}

test_ignore_case_operators if {
	tagged([cond("StringEqualsIgnoreCase", "rds:resourcetag/env", ["PRODUCTION"])], {"env": "production"})
	not tagged([cond("StringNotEqualsIgnoreCase", "rds:resourcetag/env", ["PRODUCTION"])], {"env": "production"})
	tagged([cond("StringNotEqualsIgnoreCase", "rds:resourcetag/env", ["dev"])], {"env": "production"})
	not tagged([cond("StringEquals", "rds:resourcetag/env", ["PRODUCTION"])], {"env": "production"})
}

test_like_operators if {
	tagged([cond("StringLike", "rds:resourcetag/team", ["pay*"])], {"team": "payments"})
	tagged([cond("StringLike", "rds:resourcetag/team", ["payment?"])], {"team": "payments"})
	not tagged([cond("StringLike", "rds:resourcetag/team", ["ops*"])], {"team": "payments"})
	tagged([cond("StringNotLike", "rds:resourcetag/team", ["ops*"])], {"team": "payments"})
	not tagged([cond("StringNotLike", "rds:resourcetag/team", ["pay*"])], {"team": "payments"})
}

test_numeric_operators if {
	tagged([cond("NumericEquals", "rds:resourcetag/tier", ["2"])], {"tier": "2"})
	tagged([cond("NumericEquals", "rds:resourcetag/tier", ["2"])], {"tier": "2.0"})
	not tagged([cond("NumericEquals", "rds:resourcetag/tier", ["3"])], {"tier": "2"})
	tagged([cond("NumericNotEquals", "rds:resourcetag/tier", ["3"])], {"tier": "2"})
	not tagged([cond("NumericNotEquals", "rds:resourcetag/tier", ["2"])], {"tier": "2"})
	tagged([cond("NumericLessThan", "rds:resourcetag/tier", ["3"])], {"tier": "2"})
	not tagged([cond("NumericLessThan", "rds:resourcetag/tier", ["2"])], {"tier": "2"})
	tagged([cond("NumericLessThanEquals", "rds:resourcetag/tier", ["2"])], {"tier": "2"})
	tagged([cond("NumericGreaterThan", "rds:resourcetag/tier", ["1"])], {"tier": "2"})
	not tagged([cond("NumericGreaterThan", "rds:resourcetag/tier", ["2"])], {"tier": "2"})
	tagged([cond("NumericGreaterThanEquals", "rds:resourcetag/tier", ["2"])], {"tier": "2"})

	# A value that is not a number never matches, negated or not.
	not tagged([cond("NumericEquals", "rds:resourcetag/tier", ["2"])], {"tier": "gold"})
	not tagged([cond("NumericNotEquals", "rds:resourcetag/tier", ["2"])], {"tier": "gold"})
}

test_date_operators if {
	before := "2027-01-01T00:00:00Z"
	after := "2025-01-01T00:00:00Z"
	now := "2026-01-02T03:04:05Z"
	allowed([cond("DateLessThan", "acs:currenttime", [before])], base_ctx)
	not allowed([cond("DateLessThan", "acs:currenttime", [after])], base_ctx)
	allowed([cond("DateLessThanEquals", "acs:currenttime", [now])], base_ctx)
	allowed([cond("DateGreaterThan", "acs:currenttime", [after])], base_ctx)
	not allowed([cond("DateGreaterThan", "acs:currenttime", [before])], base_ctx)
	allowed([cond("DateGreaterThanEquals", "acs:currenttime", [now])], base_ctx)
	allowed([cond("DateEquals", "acs:currenttime", [now])], base_ctx)
	not allowed([cond("DateEquals", "acs:currenttime", [before])], base_ctx)
	allowed([cond("DateNotEquals", "acs:currenttime", [before])], base_ctx)
	not allowed([cond("DateNotEquals", "acs:currenttime", [now])], base_ctx)
}

test_bool_operator if {
	allowed([cond("Bool", "acs:securetransport", ["TRUE"])], base_ctx)
	not allowed([cond("Bool", "acs:securetransport", ["true"])], object.union(base_ctx, {"secure_transport": false}))
	allowed([cond("Bool", "acs:mfapresent", ["true"])], object.union(base_ctx, {"mfa_present": true}))
}

test_ip_operators if {
	allowed([cond("IpAddress", "acs:sourceip", ["10.0.0.0/8"])], base_ctx)
	not allowed([cond("IpAddress", "acs:sourceip", ["192.168.0.0/16"])], base_ctx)
	allowed([cond("IpAddress", "acs:sourceip", ["10.1.2.3/32"])], base_ctx)
	allowed([cond("NotIpAddress", "acs:sourceip", ["192.168.0.0/16"])], base_ctx)
	not allowed([cond("NotIpAddress", "acs:sourceip", ["10.0.0.0/8"])], base_ctx)
}

test_absent_key if {
	no_ip := object.remove(base_ctx, ["source_ip"])

	# A positive operator on an absent key does not hold ...
	not allowed([cond("IpAddress", "acs:sourceip", ["10.0.0.0/8"])], no_ip)
	not allowed([cond("IpAddress", "acs:sourceip", ["10.0.0.0/8"])], object.union(base_ctx, {"source_ip": ""}))

	# ... a negated one does.
	allowed([cond("NotIpAddress", "acs:sourceip", ["10.0.0.0/8"])], no_ip)
	tagged([cond("StringNotEquals", "rds:resourcetag/env", ["dev"])], {})
}

test_unknown_operator_never_holds if {
	not allowed([cond("StringEqualsIfExists", "acs:sourceip", ["10.1.2.3"])], base_ctx)
	not allowed([cond("StringNotEqualsIfExists", "acs:sourceip", ["10.9.9.9"])], object.remove(base_ctx, ["source_ip"]))
}

test_unknown_key_never_holds if {
	not allowed([cond("StringEquals", "acs:sourcevpc", ["vpc-1"])], base_ctx)

	# Even a negated operator: an unknown key is not an absent one.
	not allowed([cond("StringNotEquals", "acs:sourcevpc", ["vpc-1"])], base_ctx)
}

# condition_problems is evaluated when the data loads; the compiler keeps
# its sentences as the statement's problems.
test_condition_problems if {
	ram.condition_problems([
		cond("StringEqualsIfExists", "acs:sourceip", ["x"]),
		cond("StringEquals", "acs:sourcevpc", ["vpc-1"]),
		cond("Bool", "acs:securetransport", ["true"]),
		cond("StringEquals", "rds:resourcetag/env", ["dev"]),
		cond("DateLessThan", "acs:currenttime", ["2027-01-01T00:00:00Z"]),
	]) == [
		"unknown condition operator \"StringEqualsIfExists\"",
		"unknown condition key \"acs:sourcevpc\"",
	]
	ram.condition_problems([]) == []
}

test_unsupported_deny_is_ignored if {
	deny := object.union(deny_prod, {
		"conditions": [cond("Foo", "acs:sourceip", ["x"])],
		"problems": ["policy DenyProd statement 2: unknown condition operator \"Foo\""],
	})
	r := ram.result with input as req("rm-prod-1") with data.ram as ram_data([allow_all, deny])
	r.effect == "Allow"
	count(r.unsupported) == 1
}
