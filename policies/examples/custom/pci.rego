# An instance tagged pci=true in org.json's instance_tags also needs one
# approval from the security group, whatever its environment asks for.
package rdsgate.custom

import data.rdsgate.org

require contains {"group": "security", "count": 1, "reason": "the instance is tagged pci=true"} if {
	org.tags.pci == "true"
}

note contains "PCI scope: check with the payments team that nothing still reads this endpoint" if {
	org.tags.pci == "true"
}
