// Package policies holds rdsgate's Rego policies and the data they ship
// with: the RAM system policies that ram.json may attach by name, and the
// example data set that `make run` serves. internal/policy loads them from
// FS; nothing here runs on its own.
//
// The Rego packages are rdsgate.release (the decision on a request),
// rdsgate.approve (the decision on a vote), rdsgate.ram (RAM evaluation) and
// rdsgate.org (the organisation's rules). README.md documents the data files.
package policies

import "embed"

// FS holds every Rego module with its _test.rego file, the RAM system
// policies and the examples directory.
//
//go:embed *.rego ram/*.rego org/*.rego ram/system/policies.json examples
var FS embed.FS

// SystemPoliciesFile is the path in FS of the RAM system policies, a JSON
// object from policy name to policy document.
const SystemPoliciesFile = "ram/system/policies.json"

// ExamplesDir is the path in FS of the example data directory (ram.json,
// org.json), the data served when no data directory is configured.
const ExamplesDir = "examples"
