package acctest

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Servers the end-to-end tests and the programs under bench/ run on
// loopback: Debian's docker-registry, `trivy server`, and a counting
// reverse proxy in front of either.

// FreePort is a TCP port free on 127.0.0.1 right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Proc is a background process whose output goes to a log file.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string
	exited  chan struct{}
	logFile *os.File
}

// StartProc starts bin with args in its own process group, its stdout and
// stderr to logPath.
func StartProc(logPath, bin string, args ...string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so that a terminal's ^C reaches the harness first.
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

// WaitHTTP polls u until it answers want, the process exits or timeout
// passes.
func (p *Proc) WaitHTTP(u string, want int, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
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
			return fmt.Errorf("%s did not answer within %s: %v\n%s", p.Cmd.Path, timeout, err, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DockerRegistry is a running Debian docker-registry (distribution 2.x).
type DockerRegistry struct {
	Host    string
	LogPath string
	Proc    *Proc
}

// DockerRegistryPath finds Debian's docker-registry: on PATH, else
// /usr/bin/docker-registry; a missing one fails the test.
func DockerRegistryPath(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/docker-registry"); err == nil {
		return "/usr/bin/docker-registry"
	}
	tb.Fatalf("no docker-registry binary: install it with `sudo apt-get install docker-registry` (Debian/Ubuntu), " +
		"or put a distribution 2.x `registry` binary on PATH under the name docker-registry")
	return ""
}

// StartDockerRegistry runs docker-registry on 127.0.0.1 with filesystem
// storage in a temporary directory, optionally with an htpasswd file
// (answering 401 to anonymous requests), and stops it when the test ends.
// Its access log and application log go to LogPath. A registry that does
// not come up is started again, up to three times.
func StartDockerRegistry(tb testing.TB, htpasswd string) *DockerRegistry {
	tb.Helper()
	bin := DockerRegistryPath(tb)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		reg, err := tryStartDockerRegistry(tb, bin, htpasswd)
		if err == nil {
			return reg
		}
		lastErr = err
		tb.Logf("docker-registry did not start (attempt %d): %v", attempt+1, err)
	}
	tb.Fatalf("docker-registry did not start: %v", lastErr)
	return nil
}

func tryStartDockerRegistry(tb testing.TB, bin, htpasswd string) (*DockerRegistry, error) {
	dir := tb.TempDir()
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	auth := ""
	want := http.StatusOK
	if htpasswd != "" {
		p := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(p, []byte(htpasswd+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: imageguard-e2e\n    path: %q\n", p)
		want = http.StatusUnauthorized
	}
	storage := filepath.Join(dir, "storage")
	if err := os.Mkdir(storage, 0o700); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
  secret: %q
%s`, storage, host, hex.EncodeToString([]byte(tb.Name()))+"-e2e-secret", auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p, err := StartProc(filepath.Join(dir, "registry.log"), bin, "serve", cfgPath)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTP("http://"+host+"/v2/", want, 30*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			log := p.Log()
			if len(log) > 8000 {
				log = "…" + log[len(log)-8000:]
			}
			tb.Logf("docker-registry log (%s):\n%s", p.LogPath, log)
		}
	})
	return &DockerRegistry{Host: host, LogPath: p.LogPath, Proc: p}, nil
}

// StartTrivyServer runs `trivy server` on 127.0.0.1 with the database
// already in cacheDir/db (--skip-db-update) and the token; its layer cache
// is cacheDir/fanal. It is stopped when the test ends (or by Stop).
func StartTrivyServer(tb testing.TB, trivyBin, cacheDir, token, logPath string) (string, *Proc) {
	tb.Helper()
	port, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := StartProc(logPath, trivyBin, "server", "--listen", listen, "--cache-dir", cacheDir, "--skip-db-update", "--token", token)
	if err != nil {
		tb.Fatalf("start trivy server: %v", err)
	}
	tb.Cleanup(p.Stop)
	u := "http://" + listen
	if err := p.WaitHTTP(u+"/healthz", http.StatusOK, 60*time.Second); err != nil {
		tb.Fatalf("trivy server: %v", err)
	}
	return u, p
}

// ProxyEvent is one request a Proxy forwarded.
type ProxyEvent struct {
	Method    string
	Path      string
	Status    int
	ReqBytes  int64 // request body bytes (uploads to a trivy server)
	RespBytes int64 // response body bytes the client received
	Start     time.Time
	End       time.Time
}

// Proxy is a reverse proxy on its own loopback port that records every
// request and the bytes that crossed it, so that each client's traffic is
// counted apart.
type Proxy struct {
	Name   string
	Host   string // 127.0.0.1:port
	server *http.Server

	mu     sync.Mutex
	events []ProxyEvent
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

// StartProxy forwards 127.0.0.1:<new port> to target (http://host:port)
// until Close or the end of the test.
func StartProxy(tb testing.TB, name, target string) *Proxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("proxy target: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{Name: name, Host: l.Addr().String()}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	// Bytes are counted as the client receives them: no transparent
	// compression between proxy and target.
	tr.DisableCompression = true
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = u.Host },
		Transport: tr,
	}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev := ProxyEvent{Method: r.Method, Path: r.URL.Path, Start: time.Now()}
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
func (p *Proxy) Events() []ProxyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxyEvent(nil), p.events...)
}
