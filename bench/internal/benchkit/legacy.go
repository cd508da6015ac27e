package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// The API the bench programs had before they became `//go:build bench`
// tests, kept only for bench/attestinterop until it is one too (then this
// file goes): a program-side testing.TB and wrappers over internal/acctest.
// New code uses a real *testing.T and acctest directly.

// TB lets a program use the test harness (internal/acctest).
//
// Deprecated: write a `//go:build bench` test instead (see bench/fleet).
type TB struct {
	testing.TB
	Dir      string
	Prog     string
	mu       sync.Mutex
	cleanups []func()
}

func (t *TB) Helper()                   {}
func (t *TB) Cleanup(f func())          { t.mu.Lock(); t.cleanups = append(t.cleanups, f); t.mu.Unlock() }
func (t *TB) Fatal(a ...any)            { t.die(fmt.Sprint(a...)) }
func (t *TB) Fatalf(f string, a ...any) { t.die(fmt.Sprintf(f, a...)) }
func (t *TB) Logf(f string, a ...any)   { fmt.Fprintf(os.Stderr, t.Prog+": "+f+"\n", a...) }
func (t *TB) Name() string              { return t.Prog }
func (t *TB) Failed() bool              { return false }
func (t *TB) TempDir() string {
	d, err := os.MkdirTemp(t.Dir, "tmp-")
	if err != nil {
		t.die(err.Error())
	}
	return d
}

// Close runs the clean-ups, last first.
func (t *TB) Close() {
	t.mu.Lock()
	c := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

func (t *TB) die(msg string) {
	fmt.Fprintln(os.Stderr, t.Prog+": fatal:", msg)
	t.Close()
	os.Exit(2)
}

// Must fails the program on err.
func (t *TB) Must(err error, what string) {
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

type (
	// Proc is acctest.Proc.
	Proc = acctest.Proc
	// Proxy is acctest.Proxy.
	Proxy = acctest.Proxy
	// Event is acctest.ProxyEvent.
	Event = acctest.ProxyEvent
	// Result is acctest.CLIResult.
	Result = acctest.CLIResult
)

// StartProxy is acctest.StartProxy.
func StartProxy(tb testing.TB, name, target string) *Proxy {
	return acctest.StartProxy(tb, name, target)
}

// StartDockerRegistry is acctest.StartDockerRegistry (bin and dir are
// acctest's to choose now).
func StartDockerRegistry(tb testing.TB, _, _ string) (string, *Proc) {
	r := acctest.StartDockerRegistry(tb, "")
	return r.Host, r.Proc
}

// Terraform is acctest.TerraformRunner with the old Run signature.
type Terraform struct{ *acctest.TerraformRunner }

// NewTerraform is acctest.NewTerraformRunner.
func NewTerraform(tb testing.TB, bin, pluginDir, _ string) *Terraform {
	return &Terraform{acctest.NewTerraformRunner(tb, bin, pluginDir)}
}

// Run runs terraform in dir.
func (t *Terraform) Run(dir string, timeout time.Duration, env []string, args ...string) Result {
	return t.TerraformRunner.Run(dir, acctest.RunOptions{Timeout: timeout, Env: env}, args...)
}

// Workspace copies examples/<example> (under moduleRoot) into dir with vars.
func Workspace(tb testing.TB, moduleRoot, example, dir string, vars map[string]any) {
	acctest.Workspace(tb, filepath.Join(moduleRoot, "examples", example), dir, vars)
}
