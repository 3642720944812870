package rdsgate.custom_test

import data.rdsgate.custom

pci_org := {"instance_tags": {"rm-pci1": {"pci": "true"}, "rm-other": {"pci": "false"}}}

request(id) := {"request": {"db_instance_id": id}, "context": {"current_time": "2026-12-04T03:00:00Z"}}

test_pci_instance_needs_security if {
	custom.require == {{"group": "security", "count": 1, "reason": "the instance is tagged pci=true"}} with input as request("rm-pci1")
		with data.org as pci_org
	count(custom.note) == 1 with input as request("rm-pci1") with data.org as pci_org
}

test_other_instances_need_nothing_more if {
	count(custom.require) == 0 with input as request("rm-other") with data.org as pci_org
	count(custom.require) == 0 with input as request("rm-untagged") with data.org as pci_org
}
