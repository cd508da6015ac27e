package acctest

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// OpenTofuProviderHost is the registry host OpenTofu gives a provider
// address without one ("imageguard" or "imageguard/imageguard"); Terraform's
// is registry.terraform.io. terraform-plugin-testing reattaches the provider
// under TF_ACC_PROVIDER_HOST, so it must match the CLI.
const OpenTofuProviderHost = "registry.opentofu.org"

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
	setProcessEnv(tb, "TF_ACC_TERRAFORM_PATH", p)
	return p
}

// setProcessEnv sets a variable every acceptance test of the process needs
// with the same value. It is process-wide on purpose (not t.Setenv): tests
// that set it run in parallel.
func setProcessEnv(tb testing.TB, key, value string) {
	tb.Helper()
	envMu.Lock()
	defer envMu.Unlock()
	if os.Getenv(key) == value {
		return
	}
	if err := os.Setenv(key, value); err != nil {
		tb.Fatal(err)
	}
}

var envMu sync.Mutex

// PreCheck prepares an acceptance test: TF_ACC must be set (make test sets
// it) and a terraform binary must be found. For OpenTofu it sets
// TF_ACC_PROVIDER_HOST to registry.opentofu.org unless it is set already.
func PreCheck(tb testing.TB) {
	tb.Helper()
	if os.Getenv("TF_ACC") == "" {
		tb.Fatalf("acceptance tests need TF_ACC=1 (run them with `make test`)")
	}
	cli := DetectCLI(tb, TerraformPath(tb))
	if cli.OpenTofu && os.Getenv("TF_ACC_PROVIDER_HOST") == "" {
		setProcessEnv(tb, "TF_ACC_PROVIDER_HOST", OpenTofuProviderHost)
	}
	// Keep terraform from reaching the network for checkpoints.
	setProcessEnv(tb, "CHECKPOINT_DISABLE", "1")
}

// CLI is the terraform or tofu binary the tests drive.
type CLI struct {
	Path     string
	OpenTofu bool
	// Major, Minor and Patch are the release, e.g. 1, 10, 6.
	Major, Minor, Patch int
}

// String names the CLI as users do, e.g. "OpenTofu 1.10.6".
func (c CLI) String() string {
	product := "Terraform"
	if c.OpenTofu {
		product = "OpenTofu"
	}
	return fmt.Sprintf("%s %d.%d.%d", product, c.Major, c.Minor, c.Patch)
}

// AtLeast reports whether the CLI's release is major.minor or newer.
func (c CLI) AtLeast(major, minor int) bool {
	return c.Major > major || (c.Major == major && c.Minor >= minor)
}

// HasEphemeralVariables reports whether the CLI accepts `ephemeral = true`
// on input variables: Terraform 1.10 and OpenTofu 1.11 added them.
func (c CLI) HasEphemeralVariables() bool {
	if c.OpenTofu {
		return c.AtLeast(1, 11)
	}
	return c.AtLeast(1, 10)
}

// HasWriteOnlyAttributes reports whether the CLI accepts write-only
// attributes (`…_wo`): Terraform 1.11 and OpenTofu 1.11 added them; older
// CLIs refuse a configuration that sets one.
func (c CLI) HasWriteOnlyAttributes() bool { return c.AtLeast(1, 11) }

var (
	cliMu    sync.Mutex
	cliCache = map[string]CLI{}
	// The first line of `terraform version` / `tofu version`.
	versionLine = regexp.MustCompile(`(?m)^(Terraform|OpenTofu) v(\d+)\.(\d+)\.(\d+)`)
)

// DetectCLI runs `<path> version` (once per path and process) and tells
// Terraform from OpenTofu and their releases apart.
func DetectCLI(tb testing.TB, path string) CLI {
	tb.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	if c, ok := cliCache[path]; ok {
		return c
	}
	cmd := exec.Command(path, "version")
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s version: %v", path, err)
	}
	m := versionLine.FindSubmatch(out)
	if m == nil {
		tb.Fatalf("%s version: no \"Terraform vX.Y.Z\" or \"OpenTofu vX.Y.Z\" line in:\n%s", path, out)
	}
	c := CLI{Path: path, OpenTofu: string(m[1]) == "OpenTofu"}
	c.Major, _ = strconv.Atoi(string(m[2]))
	c.Minor, _ = strconv.Atoi(string(m[3]))
	c.Patch, _ = strconv.Atoi(string(m[4]))
	cliCache[path] = c
	return c
}
