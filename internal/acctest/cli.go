package acctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CLI runs of the real terraform CLI against the built provider, for the
// programs under bench/ (end-to-end tests have their own in internal/e2e):
// a dev_overrides CLI config (no `terraform init`, nothing downloaded), an
// empty docker config, and the provider processes' peak memory.

// TerraformRunner runs terraform with the provider binary in PluginDir.
type TerraformRunner struct {
	Bin       string
	PluginDir string
	CLIConfig string
	DockerCfg string
}

// NewTerraformRunner writes the CLI config for pluginDir (the directory of
// terraform-provider-imageguard) under tb.TempDir(). bin "" is TerraformPath.
func NewTerraformRunner(tb testing.TB, bin, pluginDir string) *TerraformRunner {
	tb.Helper()
	if bin == "" {
		bin = TerraformPath(tb)
	}
	abs, err := filepath.Abs(pluginDir)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "terraform-provider-imageguard")); err != nil {
		tb.Fatalf("no provider binary in %s: %v", abs, err)
	}
	dir := tb.TempDir()
	t := &TerraformRunner{Bin: bin, PluginDir: abs, CLIConfig: filepath.Join(dir, "terraformrc"), DockerCfg: filepath.Join(dir, "docker")}
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"imageguard/imageguard\" = %q\n  }\n  direct {}\n}\n", abs)
	if err := os.WriteFile(t.CLIConfig, []byte(rc), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(t.DockerCfg, 0o700); err != nil {
		tb.Fatal(err)
	}
	return t
}

// Workspace copies the *.tf files of src into dir and writes vars as
// terraform.tfvars.json.
func Workspace(tb testing.TB, src, dir string, vars map[string]any) {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(src, "*.tf"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no *.tf files in %s (%v)", src, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := json.MarshalIndent(vars, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "terraform.tfvars.json"), b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// CLIResult is one terraform run.
type CLIResult struct {
	Args           []string
	Stdout, Stderr string
	Code           int
	Err            error
	Start          time.Time
	Wall           time.Duration
	// Providers is what the provider processes terraform started used,
	// when the run was watched (RunOptions.WatchProviders).
	Providers ProviderUsage
}

func (r CLIResult) String() string {
	return fmt.Sprintf("terraform %s (exit %d, %v, %s):\n%s%s", strings.Join(r.Args, " "), r.Code, r.Err, r.Wall.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// OK reports a zero exit.
func (r CLIResult) OK() bool { return r.Err == nil && r.Code == 0 }

// RunOptions are the options of one terraform run.
type RunOptions struct {
	Timeout time.Duration
	Env     []string
	// WatchProviders polls the provider processes terraform starts for
	// their peak resident memory (ProviderUsage).
	WatchProviders bool
}

// Run runs terraform in dir with a clean TF_* environment plus opts.Env.
func (t *TerraformRunner) Run(dir string, opts RunOptions, args ...string) CLIResult {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.Bin, args...)
	cmd.Dir = dir
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	var environ []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_") || strings.HasPrefix(kv, "DOCKER_CONFIG=") || strings.HasPrefix(kv, "CHECKPOINT_DISABLE=") || strings.HasPrefix(kv, "IMAGEGUARD_") {
			continue
		}
		environ = append(environ, kv)
	}
	cmd.Env = append(append(environ,
		"TF_CLI_CONFIG_FILE="+t.CLIConfig,
		"CHECKPOINT_DISABLE=1",
		"DOCKER_CONFIG="+t.DockerCfg,
		"TF_IN_AUTOMATION=1",
	), opts.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := CLIResult{Args: args, Code: -1}
	r.Start = time.Now()
	err := cmd.Start()
	if err == nil {
		var stop func() ProviderUsage
		if opts.WatchProviders {
			stop = WatchProviders(cmd.Process.Pid, "terraform-provider-imageguard")
		}
		err = cmd.Wait()
		if stop != nil {
			r.Providers = stop()
		}
	}
	r.Wall = time.Since(r.Start)
	r.Stdout, r.Stderr, r.Err = stdout.String(), stderr.String(), err
	if cmd.ProcessState != nil {
		r.Code = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Err = nil // the exit code says it
	}
	if ctx.Err() != nil {
		r.Err = fmt.Errorf("timed out after %s", opts.Timeout)
	}
	return r
}
