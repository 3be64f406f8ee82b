package hookd_test

import (
	"os/exec"
	"testing"
)

// TestExamplesBuild type-checks and vets the programs under examples/ (they use this SDK).
func TestExamplesBuild(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "vet", "../../examples/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go vet ./examples/...: %v\n%s", err, out)
	}
}
