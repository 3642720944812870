package rdssim

import (
	_ "embed"
	"fmt"
)

//go:embed testdata/instances.json
var exampleState []byte

// ExampleInstances returns the example instances shipped in
// testdata/instances.json (the ones policies/examples names), so that
// `rdsgate sim` and `make run` work from any directory and in a container.
func ExampleInstances() ([]Instance, error) {
	var f StateFile
	if err := decodeStrict(exampleState, &f); err != nil {
		return nil, fmt.Errorf("example instances: %w", err)
	}
	return normaliseInstances(f.Instances)
}
