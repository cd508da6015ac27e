package acctest

import (
	"os"
	"os/exec"
	"testing"
)

// TerraformPath finds the terraform (or tofu) binary for acceptance tests:
// TF_ACC_TERRAFORM_PATH, else terraform on PATH. It never downloads one, and
// sets TF_ACC_TERRAFORM_PATH so terraform-plugin-testing uses it. A missing
// binary fails the test: acceptance tests are never silently skipped.
func TerraformPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("TF_ACC_TERRAFORM_PATH=%s: %v", p, err)
		}
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		tb.Fatalf("no terraform binary: set TF_ACC_TERRAFORM_PATH or put terraform (>= 1.8) on PATH; tests never download it")
	}
	tb.Setenv("TF_ACC_TERRAFORM_PATH", p)
	return p
}

// PreCheck prepares an acceptance test: TF_ACC must be set (make test sets
// it) and a terraform binary must be found.
func PreCheck(tb testing.TB) {
	tb.Helper()
	if os.Getenv("TF_ACC") == "" {
		tb.Fatalf("acceptance tests need TF_ACC=1 (run them with `make test`)")
	}
	TerraformPath(tb)
	// Keep terraform from reaching the network for checkpoints.
	tb.Setenv("CHECKPOINT_DISABLE", "1")
}
