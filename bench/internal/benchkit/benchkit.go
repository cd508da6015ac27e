// Package benchkit is what the fleet benchmark (bench/fleet) and the server
// parity check (bench/serverparity) share: the test harness behind a
// testing.TB, processes (docker-registry, trivy server, terraform) on
// loopback, a counting reverse proxy, and the terraform workspace of
// examples/e2e-fleet run against the built provider with dev_overrides.
package benchkit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// ---------------------------------------------------------------- harness

// TB lets a program use the test harness (internal/acctest), which wants a
// testing.TB for fatal errors, temporary directories and clean-up.
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

// FreePort is a TCP port free on 127.0.0.1 right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ---------------------------------------------------------------- processes

// Proc is a background process whose output goes to a log file.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string
	exited  chan struct{}
	logFile *os.File
}

// StartProc starts bin with args, output to logPath.
func StartProc(logPath, bin string, args ...string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so that a terminal's ^C reaches us first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Cmd: cmd, LogPath: logPath, exited: make(chan struct{}), logFile: f}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop interrupts the process (by its own pid) and kills it after 10s.
func (p *Proc) Stop() {
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-p.exited
		}
	}
	p.logFile.Close()
}

// Log returns the process's output so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// waitHTTP polls url until it answers want, the process exits or 60s pass.
func waitHTTP(p *Proc, u string, want int) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited: %s\n%s", p.Cmd.Path, p.Cmd.ProcessState, p.Log())
		}
		resp, err := client.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			err = fmt.Errorf("GET %s answered %s, want %d", u, resp.Status, want)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within 60s: %v\n%s", p.Cmd.Path, err, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartDockerRegistry runs Debian's docker-registry (distribution 2.x) on
// 127.0.0.1 with filesystem storage under dir, as internal/e2e does.
func StartDockerRegistry(tb *TB, bin, dir string) (host string, p *Proc) {
	port, err := FreePort()
	tb.Must(err, "free port")
	host = fmt.Sprintf("127.0.0.1:%d", port)
	storage := filepath.Join(dir, "storage")
	tb.Must(os.MkdirAll(storage, 0o700), "registry storage")
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
  secret: %q
`, storage, host, hex.EncodeToString([]byte(host))+"-bench-secret")
	cfgPath := filepath.Join(dir, "config.yml")
	tb.Must(os.WriteFile(cfgPath, []byte(cfg), 0o600), "registry config")
	p, err = StartProc(filepath.Join(dir, "registry.log"), bin, "serve", cfgPath)
	tb.Must(err, "start docker-registry")
	tb.Cleanup(p.Stop)
	tb.Must(waitHTTP(p, "http://"+host+"/v2/", http.StatusOK), "docker-registry")
	return host, p
}

// StartTrivyServer runs `trivy server` on 127.0.0.1 with the database
// already in cacheDir/db (--skip-db-update) and the token. Its layer cache is
// cacheDir/fanal, its own.
func StartTrivyServer(tb *TB, trivyBin, cacheDir, token, logPath string) (url string, p *Proc) {
	port, err := FreePort()
	tb.Must(err, "free port")
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	p, err = StartProc(logPath, trivyBin, "server", "--listen", listen, "--cache-dir", cacheDir, "--skip-db-update", "--token", token)
	tb.Must(err, "start trivy server")
	tb.Cleanup(p.Stop)
	url = "http://" + listen
	tb.Must(waitHTTP(p, url+"/healthz", http.StatusOK), "trivy server")
	return url, p
}

// ---------------------------------------------------------------- database

// SeedDB downloads the database from repo the way the provider does and
// returns the directory holding trivy.db and metadata.json (Trivy's layout).
func SeedDB(tb *TB, repo, cacheDir string) *vulndb.DB {
	client, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain()})
	tb.Must(err, "registry client")
	db, err := vulndb.NewManager(vulndb.Options{Repositories: []string{repo}, CacheDir: cacheDir, RemoteOptions: client.RemoteOptions()}).Ensure(context.Background())
	tb.Must(err, "seed database")
	return db
}

// CopyDB copies the files of dbDir into cacheDir/db.
func CopyDB(tb *TB, dbDir, cacheDir string) {
	dst := filepath.Join(cacheDir, "db")
	tb.Must(os.MkdirAll(dst, 0o700), "db dir")
	entries, err := os.ReadDir(dbDir)
	tb.Must(err, "read db dir")
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dbDir, e.Name()))
		tb.Must(err, "read db file")
		tb.Must(os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600), "write db file")
	}
}

// ---------------------------------------------------------------- proxy

// Event is one request a Proxy forwarded.
type Event struct {
	Method    string
	Path      string
	Status    int
	ReqBytes  int64 // request body bytes (uploads to a trivy server)
	RespBytes int64 // response body bytes the client received
	Start     time.Time
	End       time.Time
}

// Proxy is a reverse proxy on its own loopback port that records every
// request and the bytes that crossed it: one per worker, so that each
// worker's traffic is counted apart.
type Proxy struct {
	Name   string
	Host   string // 127.0.0.1:port
	server *http.Server

	mu     sync.Mutex
	events []Event
}

type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (c *countingWriter) WriteHeader(s int) { c.status = s; c.ResponseWriter.WriteHeader(s) }
func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

type countingReader struct {
	io.ReadCloser
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n += int64(n)
	return n, err
}

// StartProxy forwards 127.0.0.1:<new port> to target (http://host:port).
func StartProxy(tb *TB, name, target string) *Proxy {
	u, err := url.Parse(target)
	tb.Must(err, "proxy target")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	tb.Must(err, "proxy listen")
	p := &Proxy{Name: name, Host: l.Addr().String()}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	// Bytes are counted as the client receives them: no transparent
	// compression between proxy and target.
	tr.DisableCompression = true
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = u.Host },
		Transport: tr,
		ErrorLog:  nil,
	}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev := Event{Method: r.Method, Path: r.URL.Path, Start: time.Now()}
		cr := &countingReader{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = cr
		}
		cw := &countingWriter{ResponseWriter: w}
		rp.ServeHTTP(cw, r)
		ev.End, ev.Status, ev.RespBytes, ev.ReqBytes = time.Now(), cw.status, cw.n, cr.n
		p.mu.Lock()
		p.events = append(p.events, ev)
		p.mu.Unlock()
	})}
	go func() { _ = p.server.Serve(l) }()
	tb.Cleanup(p.Close)
	return p
}

// Close stops the proxy.
func (p *Proxy) Close() { _ = p.server.Close() }

// Events returns a copy of the recorded requests.
func (p *Proxy) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// ---------------------------------------------------------------- terraform

// Terraform runs the real terraform CLI with the built provider through a
// dev_overrides CLI config (no `terraform init`, nothing downloaded) and an
// empty docker config, as internal/e2e does.
type Terraform struct {
	Bin       string
	CLIConfig string
	DockerCfg string
}

// NewTerraform writes the CLI config for pluginDir (the directory of
// terraform-provider-imageguard) under dir.
func NewTerraform(tb *TB, bin, pluginDir, dir string) *Terraform {
	rc := fmt.Sprintf(`provider_installation {
  dev_overrides {
    "imageguard/imageguard" = %q
  }
  direct {}
}
`, pluginDir)
	t := &Terraform{Bin: bin, CLIConfig: filepath.Join(dir, "terraformrc"), DockerCfg: filepath.Join(dir, "docker")}
	tb.Must(os.WriteFile(t.CLIConfig, []byte(rc), 0o600), "terraformrc")
	tb.Must(os.MkdirAll(t.DockerCfg, 0o700), "docker config")
	return t
}

// Workspace copies examples/<example>/*.tf into dir and writes vars as
// terraform.tfvars.json.
func Workspace(tb *TB, moduleRoot, example, dir string, vars map[string]any) {
	files, err := filepath.Glob(filepath.Join(moduleRoot, "examples", example, "*.tf"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no *.tf files in examples/%s (%v)", example, err)
	}
	tb.Must(os.MkdirAll(dir, 0o700), "workspace")
	for _, f := range files {
		b, err := os.ReadFile(f)
		tb.Must(err, "read example")
		tb.Must(os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600), "write workspace")
	}
	b, err := json.MarshalIndent(vars, "", "  ")
	tb.Must(err, "tfvars")
	tb.Must(os.WriteFile(filepath.Join(dir, "terraform.tfvars.json"), b, 0o600), "tfvars")
}

// Result is one terraform run.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
	Err    error
	Start  time.Time
	Wall   time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("terraform %s (exit %d, %v, %s):\n%s%s", strings.Join(r.Args, " "), r.Code, r.Err, r.Wall.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// OK reports a zero exit.
func (r Result) OK() bool { return r.Err == nil && r.Code == 0 }

// Run runs terraform in dir with a clean TF_* environment plus extraEnv.
func (t *Terraform) Run(dir string, timeout time.Duration, extraEnv []string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
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
	), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := Result{Args: args, Start: time.Now(), Code: -1}
	err := cmd.Run()
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
		r.Err = fmt.Errorf("timed out after %s", timeout)
	}
	return r
}

// Outputs is `terraform output -json` or a plan's planned output values.
type Outputs struct {
	IDs       map[string][]string
	Findings  map[string][]string
	Secrets   map[string][]string
	Platforms map[string][]string
	Digests   map[string]string
	DB        map[string]string
}

// ParseOutputs reads the outputs of examples/e2e-fleet from a map of
// output name to {"value": ...} (terraform output -json, or a plan's
// planned_values.outputs).
func ParseOutputs(raw map[string]json.RawMessage) (*Outputs, error) {
	o := &Outputs{}
	for name, dst := range map[string]any{"ids": &o.IDs, "findings": &o.Findings, "secrets": &o.Secrets, "platforms": &o.Platforms, "digests": &o.Digests, "db": &o.DB} {
		msg, ok := raw[name]
		if !ok {
			return nil, fmt.Errorf("output %q missing", name)
		}
		var v struct{ Value json.RawMessage }
		if err := json.Unmarshal(msg, &v); err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
		if err := json.Unmarshal(v.Value, dst); err != nil {
			return nil, fmt.Errorf("output %q value: %w", name, err)
		}
	}
	return o, nil
}

// PlanOutputs runs `terraform show -json planFile` and parses the planned
// outputs.
func (t *Terraform) PlanOutputs(dir, planFile string) (*Outputs, error) {
	r := t.Run(dir, 3*time.Minute, nil, "show", "-json", "-no-color", planFile)
	if !r.OK() {
		return nil, errors.New(r.String())
	}
	var plan struct {
		PlannedValues struct {
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &plan); err != nil {
		return nil, fmt.Errorf("terraform show -json: %w", err)
	}
	return ParseOutputs(plan.PlannedValues.Outputs)
}

// ---------------------------------------------------------------- formatting

// MiB formats bytes as MiB with two decimals (or bytes when small).
func MiB(n int64) string {
	if n < 10*1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}

// Secs formats a duration in seconds with one decimal.
func Secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
