// Package e2e runs the provider as users do: the binary built from this
// module, the real terraform CLI (with a dev_overrides CLI config, so no
// `terraform init` and no download), and a real registry on loopback —
// Debian's docker-registry (distribution 2.8) or, for bearer tokens, the
// in-process acctest registry. It runs only with TF_ACC set (`make test`).
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// terraformTimeout bounds one terraform command.
const terraformTimeout = 3 * time.Minute

var (
	// sharedDir outlives single tests: it holds the provider binary.
	sharedDir string

	buildOnce sync.Once
	buildErr  error
	// pluginDir is <sharedDir>/bin, the dev_overrides directory.
	pluginDir string
	// moduleRoot is the directory of go.mod.
	moduleRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// env is what every end-to-end test needs: the provider binary, terraform
// and a CLI config that points terraform at the binary.
type env struct {
	terraform string
	// cli tells Terraform from OpenTofu and their releases apart.
	cli       acctest.CLI
	cliConfig string
	dockerCfg string
}

// setup skips without TF_ACC and fails (never skips) when a tool is missing.
func setup(t *testing.T) *env {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("end-to-end tests run only with TF_ACC=1 (`make test` sets it)")
	}
	tf := terraformPath(t)
	buildProvider(t)

	dir := t.TempDir()
	e := &env{terraform: tf, cli: acctest.DetectCLI(t, tf), cliConfig: filepath.Join(dir, "terraformrc"), dockerCfg: filepath.Join(dir, "docker")}
	rc := fmt.Sprintf(`provider_installation {
  dev_overrides {
    "imageguard/imageguard" = %q
  }
  direct {}
}
`, pluginDir)
	if err := os.WriteFile(e.cliConfig, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty docker config: the developer's credentials are never read.
	if err := os.Mkdir(e.dockerCfg, 0o700); err != nil {
		t.Fatal(err)
	}
	return e
}

// terraformPath finds terraform (or tofu) as acctest does, with install
// instructions when there is none: TF_ACC_TERRAFORM_PATH (the switch for
// the CLI matrix, e.g. TF_ACC_TERRAFORM_PATH=$(scripts/tools.sh tofu 1.10.6)),
// else terraform on PATH. It never downloads one.
func terraformPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("TF_ACC_TERRAFORM_PATH=%s: %v", p, err)
		}
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatalf("no terraform binary on PATH: install Terraform >= 1.8 (https://developer.hashicorp.com/terraform/install, " +
			"or `apt-get install terraform` from the HashiCorp apt repository) or set TF_ACC_TERRAFORM_PATH to a terraform/tofu binary; " +
			"the tests never download it")
	}
	return p
}

// buildProvider builds the provider binary once per test process.
func buildProvider(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			buildErr = errors.New("go env GOMOD: not inside the module")
			return
		}
		moduleRoot = filepath.Dir(gomod)
		sharedDir, err = os.MkdirTemp("", "imageguard-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		pluginDir = filepath.Join(sharedDir, "bin")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(pluginDir, "terraform-provider-imageguard"), ".")
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "GOEXPERIMENT=jsonv2")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build of the provider failed: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// workspace is a temp directory holding a copy of an example's *.tf files.
type workspace struct {
	t   *testing.T
	e   *env
	dir string
	// outputs collects the output of every terraform run, for leak checks.
	outputs []string
}

// workspace copies a configuration into a fresh directory: the suite's own
// under internal/e2e/testdata, or a documented one ("guides/…") under
// examples/, which the docs render.
func (e *env) workspace(t *testing.T, example string) *workspace {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("internal", "e2e", "testdata", example)
	if strings.HasPrefix(example, "guides/") {
		src = filepath.Join("examples", example)
	}
	files, err := filepath.Glob(filepath.Join(moduleRoot, src, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.tf files in %s (%v)", src, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &workspace{t: t, e: e, dir: dir}
}

// result is one terraform run.
type result struct {
	args     []string
	stdout   string
	stderr   string
	combined string
	code     int
	err      error
}

func (r result) String() string {
	return fmt.Sprintf("terraform %s (exit %d, %v):\n%s", strings.Join(r.args, " "), r.code, r.err, r.combined)
}

// lockedWriter serialises writes from the stdout and stderr copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// terraform runs terraform in the workspace with a timeout. extraEnv is
// added to a clean environment: no TF_* from the caller, the test CLI
// config, no checkpoint, an empty docker config.
func (w *workspace) terraform(extraEnv []string, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), terraformTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.e.terraform, args...)
	cmd.Dir = w.dir
	// Let terraform stop its provider on timeout; kill it if it does not.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	var environ []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_") || strings.HasPrefix(kv, "DOCKER_CONFIG=") || strings.HasPrefix(kv, "CHECKPOINT_DISABLE=") {
			continue
		}
		environ = append(environ, kv)
	}
	environ = append(environ,
		"TF_CLI_CONFIG_FILE="+w.e.cliConfig,
		"CHECKPOINT_DISABLE=1",
		"DOCKER_CONFIG="+w.e.dockerCfg,
		"TF_IN_AUTOMATION=1",
	)
	cmd.Env = append(environ, extraEnv...)
	var stdout, stderr, combined bytes.Buffer
	lw := &lockedWriter{w: &combined}
	cmd.Stdout = io.MultiWriter(&stdout, lw)
	cmd.Stderr = io.MultiWriter(&stderr, lw)
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), combined: combined.String(), err: err, code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("timed out after %s: %w", terraformTimeout, err)
	}
	w.outputs = append(w.outputs, r.combined)
	return r
}

// mustTerraform runs terraform and fails the test unless it exits 0.
func (w *workspace) mustTerraform(extraEnv []string, args ...string) result {
	w.t.Helper()
	r := w.terraform(extraEnv, args...)
	if r.err != nil || r.code != 0 {
		w.t.Fatalf("%s", r)
	}
	return r
}

// planApply runs plan, apply, `output -raw pinned` and a second plan that
// must report no changes. It returns the pinned output.
func (w *workspace) planApply(extraEnv []string, vars ...string) string {
	w.t.Helper()
	varArgs := make([]string, 0, 2*len(vars))
	for _, v := range vars {
		varArgs = append(varArgs, "-var", v)
	}
	w.mustTerraform(extraEnv, append([]string{"plan", "-input=false", "-no-color"}, varArgs...)...)
	w.mustTerraform(extraEnv, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, varArgs...)...)
	out := w.mustTerraform(extraEnv, "output", "-no-color", "-raw", "pinned")
	pinned := strings.TrimSpace(out.stdout)
	again := w.terraform(extraEnv, append([]string{"plan", "-detailed-exitcode", "-input=false", "-no-color"}, varArgs...)...)
	if again.code != 0 {
		w.t.Fatalf("the second plan should report no changes (exit 0; 2 means changes): %s", again)
	}
	return pinned
}

// assertNoLeak fails when any secret appears in the output of a terraform
// run, in the extra files (e.g. the TF_LOG_PATH file) or in any file of the
// workspace (state, backups, lock files).
func (w *workspace) assertNoLeak(extraFiles []string, secrets ...string) {
	w.t.Helper()
	check := func(where, content string) {
		for _, s := range secrets {
			if strings.Contains(content, s) {
				w.t.Errorf("a secret (%d chars, starting %.4q) leaked into %s", len(s), s, where)
			}
		}
	}
	for i, out := range w.outputs {
		check(fmt.Sprintf("the output of terraform run #%d", i+1), out)
	}
	files := slices.Clone(extraFiles)
	err := filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			w.t.Fatalf("reading %s for the leak check: %v", f, err)
		}
		check(f, string(b))
	}
}

// basicSecretForms are the forms in which a password could leak: as given,
// and inside a basic Authorization header value.
func basicSecretForms(user, password string) []string {
	return []string{password, base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
}

func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// traceEnv asks terraform and the provider for trace logs in a file.
func traceEnv(t *testing.T) ([]string, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "terraform-trace.log")
	return []string{"TF_LOG=trace", "TF_LOG_PATH=" + logPath}, logPath
}

// assertTraced checks that the trace log exists and holds the provider's
// own log lines, so that a leak check on it means something.
func assertTraced(t *testing.T, logPath string) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("trace log: %v", err)
	}
	if !strings.Contains(string(b), "imageguard configured") {
		t.Fatalf("trace log %s (%d bytes) lacks the provider's log lines", logPath, len(b))
	}
}

// dockerRegistry is a running Debian docker-registry (acctest's).
type dockerRegistry = acctest.DockerRegistry

// startDockerRegistry runs docker-registry on 127.0.0.1 (optionally with an
// htpasswd file) until the test ends; see acctest.StartDockerRegistry.
func startDockerRegistry(t *testing.T, htpasswd string) *dockerRegistry {
	t.Helper()
	return acctest.StartDockerRegistry(t, htpasswd)
}

// push writes img to ref and returns its digest.
func push(t *testing.T, ref string, img v1.Image, auth authn.Authenticator) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPinWithDockerRegistry pins an image served by a real registry.
func TestPinWithDockerRegistry(t *testing.T) {
	e := setup(t)
	reg := startDockerRegistry(t, "")
	img := acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2"))
	digest := push(t, reg.Host+"/team/api:1.0", img, authn.Anonymous)

	w := e.workspace(t, "e2e")
	pinned := w.planApply(nil, "image="+reg.Host+"/team/api:1.0")
	if want := reg.Host + "/team/api@" + digest.String(); pinned != want {
		t.Fatalf("pinned = %q, want %q", pinned, want)
	}
	user := w.mustTerraform(nil, "output", "-no-color", "-raw", "user")
	if got := strings.TrimSpace(user.stdout); got != "1000" {
		t.Fatalf("user = %q, want 1000", got)
	}
}

// TestCredentialsNeverLeak gives a password through TF_VAR_password to a
// registry with htpasswd auth and checks that it shows up nowhere: not in
// terraform's output, the trace log, the state or a saved plan (beyond the
// variable value the CLI itself keeps there for a non-ephemeral variable);
// as an ephemeral variable, not even there.
func TestCredentialsNeverLeak(t *testing.T) {
	e := setup(t)
	const user = "e2e-user"
	password := randomSecret(t, "pw-")
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg := startDockerRegistry(t, user+":"+string(hash))
	img := acctest.Image(acctest.Config{User: "app"}, acctest.AlpineLayer("3.23.2"))
	digest := push(t, reg.Host+"/private/app:1.0", img, &authn.Basic{Username: user, Password: password})
	vars := []string{"image=" + reg.Host + "/private/app:1.0", "registry=" + reg.Host, "username=" + user}

	t.Run("right password", func(t *testing.T) {
		w := e.workspace(t, "e2e")
		trace, logPath := traceEnv(t)
		pinned := w.planApply(append(trace, "TF_VAR_password="+password), vars...)
		if want := reg.Host + "/private/app@" + digest.String(); pinned != want {
			t.Fatalf("pinned = %q, want %q", pinned, want)
		}
		assertTraced(t, logPath)
		w.assertNoLeak([]string{logPath}, basicSecretForms(user, password)...)
		if _, err := os.Stat(filepath.Join(w.dir, "terraform.tfstate")); err != nil {
			t.Fatalf("no state to check: %v", err)
		}
	})

	// A saved plan, as CI plan gates make: plan -out, show -json, apply.
	// Terraform keeps a sensitive variable's value in the plan file (that is
	// the CLI's design, not the provider's); it must be the only copy.
	t.Run("saved plan, sensitive variable", func(t *testing.T) {
		w := e.workspace(t, "e2e")
		trace, logPath := traceEnv(t)
		env := append(trace, "TF_VAR_password="+password)
		planPath := filepath.Join(t.TempDir(), "plan.out")
		w.mustTerraform(env, append([]string{"plan", "-input=false", "-no-color", "-out=" + planPath}, varFlags(vars)...)...)
		shown := w.showPlanJSON(planPath)
		w.mustTerraform(env, "apply", "-input=false", "-no-color", planPath)
		out := w.mustTerraform(nil, "output", "-no-color", "-raw", "pinned")
		if want := reg.Host + "/private/app@" + digest.String(); strings.TrimSpace(out.stdout) != want {
			t.Fatalf("pinned = %q, want %q", out.stdout, want)
		}
		assertTraced(t, logPath)
		w.assertNoLeak([]string{logPath}, basicSecretForms(user, password)...)
		assertPlanNoLeak(t, planPath, shown, "password", basicSecretForms(user, password)...)
	})

	// An ephemeral variable stays out of the saved plan altogether; it must be
	// given again to apply the plan.
	t.Run("saved plan, ephemeral variable", func(t *testing.T) {
		if !e.cli.HasEphemeralVariables() {
			t.Skipf("%s has no ephemeral input variables (they came in Terraform 1.10 and OpenTofu 1.11); the sensitive-variable cases cover this CLI", e.cli)
		}
		w := e.workspace(t, "e2e-ephemeral")
		trace, logPath := traceEnv(t)
		env := append(trace, "TF_VAR_password="+password)
		planPath := filepath.Join(t.TempDir(), "plan.out")
		w.mustTerraform(env, append([]string{"plan", "-input=false", "-no-color", "-out=" + planPath}, varFlags(vars)...)...)
		shown := w.showPlanJSON(planPath)
		if r := w.terraform(nil, "apply", "-input=false", "-no-color", planPath); r.code == 0 {
			t.Fatalf("applying the saved plan without the ephemeral variable should fail: %s", r)
		}
		w.mustTerraform(env, "apply", "-input=false", "-no-color", planPath)
		out := w.mustTerraform(nil, "output", "-no-color", "-raw", "pinned")
		if want := reg.Host + "/private/app@" + digest.String(); strings.TrimSpace(out.stdout) != want {
			t.Fatalf("pinned = %q, want %q", out.stdout, want)
		}
		assertTraced(t, logPath)
		w.assertNoLeak([]string{logPath}, basicSecretForms(user, password)...)
		assertPlanNoLeak(t, planPath, shown, "", basicSecretForms(user, password)...)
	})

	t.Run("wrong password", func(t *testing.T) {
		wrong := randomSecret(t, "wrong-")
		w := e.workspace(t, "e2e")
		trace, logPath := traceEnv(t)
		varArgs := []string{"plan", "-input=false", "-no-color"}
		for _, v := range vars {
			varArgs = append(varArgs, "-var", v)
		}
		r := w.terraform(append(trace, "TF_VAR_password="+wrong), varArgs...)
		if r.code == 0 || !strings.Contains(r.combined, "Registry denied access") {
			t.Fatalf("want a failed plan with \"Registry denied access\", got %s", r)
		}
		assertTraced(t, logPath)
		w.assertNoLeak([]string{logPath}, basicSecretForms(user, wrong)...)
	})
}

// TestTokenNeverLeaks gives a bearer token through TF_VAR_token to the
// in-process registry (the built provider reaches it over 127.0.0.1) and
// checks that it shows up nowhere.
func TestTokenNeverLeaks(t *testing.T) {
	e := setup(t)
	token := randomSecret(t, "tok-")
	reg := acctest.NewRegistry(t, acctest.WithBearerToken(token))
	digest := reg.Push(t, "private/app:1.0", acctest.Image(acctest.Config{User: "app"}, acctest.AlpineLayer("3.23.2")))
	vars := []string{"image=" + reg.Ref("private/app:1.0"), "registry=" + reg.Host}

	t.Run("right token", func(t *testing.T) {
		w := e.workspace(t, "e2e-token")
		trace, logPath := traceEnv(t)
		pinned := w.planApply(append(trace, "TF_VAR_token="+token), vars...)
		if want := reg.Host + "/private/app@" + digest.String(); pinned != want {
			t.Fatalf("pinned = %q, want %q", pinned, want)
		}
		if reg.CountManifests() == 0 {
			t.Fatal("the registry saw no manifest request from the provider")
		}
		assertTraced(t, logPath)
		w.assertNoLeak([]string{logPath}, token)
	})

	t.Run("wrong token", func(t *testing.T) {
		wrong := randomSecret(t, "badtok-")
		w := e.workspace(t, "e2e-token")
		trace, logPath := traceEnv(t)
		varArgs := []string{"plan", "-input=false", "-no-color"}
		for _, v := range vars {
			varArgs = append(varArgs, "-var", v)
		}
		r := w.terraform(append(trace, "TF_VAR_token="+wrong), varArgs...)
		if r.code == 0 || !strings.Contains(r.combined, "Registry denied access") {
			t.Fatalf("want a failed plan with \"Registry denied access\", got %s", r)
		}
		assertTraced(t, logPath)
		w.assertNoLeak([]string{logPath}, wrong, token)
	})
}
