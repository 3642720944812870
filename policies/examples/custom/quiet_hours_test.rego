package rdsgate.custom_test

import data.rdsgate.custom

at(utc, break_glass) := {"request": {"db_instance_id": "rm-1", "break_glass": break_glass}, "context": {"current_time": utc}}

# 23:30 and 05:59 in Beijing are 15:30 and 21:59 UTC the day before.
test_quiet_period_denies if {
	count(custom.deny) == 1 with input as at("2026-12-04T15:30:00Z", false)
	count(custom.deny) == 1 with input as at("2026-12-04T21:59:00Z", false)
}

test_break_glass_passes_the_quiet_period if {
	count(custom.deny) == 0 with input as at("2026-12-04T15:30:00Z", true)
}

# 06:00 and 21:59 in Beijing are 22:00 UTC the day before and 13:59 UTC.
test_daytime_passes if {
	count(custom.deny) == 0 with input as at("2026-12-04T22:00:00Z", false)
	count(custom.deny) == 0 with input as at("2026-12-04T13:59:00Z", false)
}
