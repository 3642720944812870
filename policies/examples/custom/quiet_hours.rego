# Between 22:00 and 06:00 Beijing time (Asia/Shanghai) a release needs
# break glass: the on-call engineer is asleep and nobody would notice an
# application losing its database.
package rdsgate.custom

quiet_start := 22

quiet_end := 6

deny contains sprintf("no releases between %02d:00 and %02d:00 Beijing time without break glass", [quiet_start, quiet_end]) if {
	not input.request.break_glass == true
	beijing_hour_in_quiet_period
}

beijing_hour_in_quiet_period if {
	[hour, _, _] := time.clock([time.parse_rfc3339_ns(input.context.current_time), "Asia/Shanghai"])
	quiet(hour)
}

quiet(hour) if hour >= quiet_start

quiet(hour) if hour < quiet_end
