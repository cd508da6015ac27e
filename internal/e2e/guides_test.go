package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// guideExamples lists the example configurations of the guides
// (examples/guides/<guide>[/<case>]/main.tf), relative to examples/.
func guideExamples(t *testing.T) []string {
	t.Helper()
	root := filepath.Join(moduleRoot, "examples")
	var dirs []string
	err := filepath.WalkDir(filepath.Join(root, "guides"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tf") {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			if !slices.Contains(dirs, rel) {
				dirs = append(dirs, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no guide examples under examples/guides")
	}
	return dirs
}

// usesEphemeralValues reports whether an example declares ephemeral values,
// which need Terraform >= 1.10 or OpenTofu >= 1.11.
// usesActions reports whether an example declares an `action` block.
func usesActions(t *testing.T, dir string) bool {
	t.Helper()
	return exampleHasLine(t, dir, `action "`)
}

func usesEphemeralValues(t *testing.T, dir string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(moduleRoot, "examples", dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "ephemeral ") {
				return true
			}
		}
	}
	return false
}

// TestGuideExamplesValidate runs `validate` on every guide example as a user
// copies it, with the built provider. The dev_overrides CLI config stands in
// for `terraform init`, which would look the provider up in a registry.
func TestGuideExamplesValidate(t *testing.T) {
	e := setup(t)
	for _, dir := range guideExamples(t) {
		t.Run(dir, func(t *testing.T) {
			if usesEphemeralValues(t, dir) && !e.cli.HasEphemeralVariables() {
				t.Skipf("examples/%s uses ephemeral values, which %s lacks (Terraform >= 1.10, OpenTofu >= 1.11)", dir, e.cli)
			}
			if usesActions(t, dir) && (e.cli.OpenTofu || !e.cli.AtLeast(1, 14)) {
				t.Skipf("examples/%s declares an action, which %s lacks (Terraform >= 1.14; OpenTofu has none)", dir, e.cli)
			}
			w := e.workspace(t, dir)
			w.mustTerraform(nil, "validate", "-no-color")
		})
	}
}

var (
	demoRegistryOnce sync.Once
	demoRegistryBin  string
	demoRegistryErr  error
)

// startDemoRegistry builds and starts internal/demoregistry (the registry of
// `make demo`: demo images and a demo Trivy database) and returns its
// host:port. It stops when the test ends.
func startDemoRegistry(t *testing.T) string {
	t.Helper()
	buildProvider(t)
	demoRegistryOnce.Do(func() {
		demoRegistryBin = filepath.Join(sharedDir, "demoregistry")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", demoRegistryBin, "./internal/demoregistry")
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "GOEXPERIMENT=jsonv2")
		if out, err := cmd.CombinedOutput(); err != nil {
			demoRegistryErr = err
			t.Logf("go build ./internal/demoregistry:\n%s", out)
		}
	})
	if demoRegistryErr != nil {
		t.Fatalf("go build ./internal/demoregistry: %v", demoRegistryErr)
	}
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	logPath := filepath.Join(dir, "demoregistry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(demoRegistryBin, "-addr-file", addrFile, "-trust-dir", dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b))
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("demoregistry exited: %s\n%s", cmd.ProcessState, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("demoregistry wrote no address within 2m:\n%s", log)
		}
	}
}

// TestCIWorkersGuideOnDemoRegistry runs the example of the "HCP Terraform
// and CI workers" guide as is against the demo registry: a cold worker (an
// empty IMAGEGUARD_CACHE_DIR) downloads the database, a worker whose CI
// cache restored that directory downloads nothing, an agent with the
// database baked in (db_baked_in = true, i.e. skip_update) plans without the
// network, and one without a database fails the plan. The wall times are
// logged for the guide.
func TestCIWorkersGuideOnDemoRegistry(t *testing.T) {
	e := setup(t)
	addr := startDemoRegistry(t)
	cache := filepath.Join(t.TempDir(), "imageguard-cache")
	vars := varFlags([]string{
		"image=" + addr + "/demo/payments:2.0",
		`trivy_db_repositories=["` + addr + `/aquasecurity/trivy-db:2"]`,
	})
	w := e.workspace(t, "guides/ci-workers")
	plan := func(env []string, extra ...string) (result, time.Duration) {
		t.Helper()
		start := time.Now()
		r := w.terraform(env, append(append([]string{"plan", "-input=false", "-no-color"}, vars...), extra...)...)
		return r, time.Since(start)
	}
	wantPinned := addr + "/demo/payments@sha256:"
	dbFile := filepath.Join(cache, "db", "trivy.db")

	cold, coldTime := plan([]string{"IMAGEGUARD_CACHE_DIR=" + cache})
	if cold.code != 0 || !strings.Contains(cold.stdout, wantPinned) {
		t.Fatalf("cold plan: want exit 0 and %q in the plan, got %s", wantPinned, cold)
	}
	first, err := os.Stat(dbFile)
	if err != nil {
		t.Fatalf("the cold plan left no database in IMAGEGUARD_CACHE_DIR: %v", err)
	}

	warm, warmTime := plan([]string{"IMAGEGUARD_CACHE_DIR=" + cache})
	if warm.code != 0 || !strings.Contains(warm.stdout, wantPinned) {
		t.Fatalf("warm plan: %s", warm)
	}
	if again, err := os.Stat(dbFile); err != nil || !os.SameFile(first, again) {
		t.Fatalf("the warm plan replaced the cached database (a new download): %v", err)
	}

	baked, bakedTime := plan([]string{"IMAGEGUARD_CACHE_DIR=" + cache}, "-var", "db_baked_in=true")
	if baked.code != 0 || !strings.Contains(baked.stdout, wantPinned) {
		t.Fatalf("plan with the database baked in: %s", baked)
	}

	empty := filepath.Join(t.TempDir(), "no-database")
	missing, _ := plan([]string{"IMAGEGUARD_CACHE_DIR=" + empty}, "-var", "db_baked_in=true")
	if missing.code == 0 || !strings.Contains(missing.combined, "skip_update") {
		t.Fatalf("skip_update without a database must fail the plan and name skip_update: %s", missing)
	}
	t.Logf("%s, ci-workers guide example on the demo registry: cold plan %s, warm (cache restored) %s, database baked in %s",
		e.cli, coldTime.Round(10*time.Millisecond), warmTime.Round(10*time.Millisecond), bakedTime.Round(10*time.Millisecond))
}

// exampleHasLine reports whether a line of an example's .tf files starts
// with prefix (after indentation).
func exampleHasLine(t *testing.T, dir, prefix string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(moduleRoot, "examples", dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), prefix) {
				return true
			}
		}
	}
	return false
}
