package app

import (
	"os/exec"
	"strings"
	"testing"
)

// The layers hold by their imports: handlers reach the use cases only, the
// use cases do not depend on the store that implements them, the executor
// neither, and the domain depends on nothing of ours. go list reads the
// whole dependency graph, indirect imports included.
func TestLayers(t *testing.T) {
	t.Parallel()
	const mod = "github.com/rdsgate/rdsgate/"
	forbidden := map[string][]string{
		"internal/web":       {"internal/store", "internal/executor", "internal/aliyun", "internal/app"},
		"internal/lifecycle": {"internal/store", "internal/executor", "internal/aliyun", "internal/web"},
		"internal/executor":  {"internal/store", "internal/web"},
		"internal/request":   {"internal/"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if strings.HasPrefix(dep, mod+b) && dep != mod+pkg {
					t.Errorf("%s depends on %s", pkg, strings.TrimPrefix(dep, mod))
				}
			}
		}
	}
}
