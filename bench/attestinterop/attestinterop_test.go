//go:build bench

// Package attestinterop is bench/attest_interop.sh: imageguard_attestation
// against the cosign CLI v3.1.3, on Debian's docker-registry (no referrers
// API: the sha256-<digest> referrers tag) and on the in-process registry
// (referrers API).
//
//  1. The real terraform applies imageguard_attestation (bench/testdata/cosign/
//     attest-resource) with a key made by `cosign generate-key-pair`, offline
//     (tlog_upload = false); images are signed by `cosign sign` first, as CI
//     would.
//
//  2. `cosign verify-attestation --type vuln` and `--type <verdict>` and
//     imageguard_verify (a terraform plan) must pass on it.
//
//  3. Tampering must fail in both: an edited predicate, another key, an
//     attestation copied to another digest.
//
//  4. Time and registry requests (counted by a proxy in front of the
//     registry) to attest one image: `cosign attest --type vuln` with the
//     same predicate, imageguard's library path (sign and attach both
//     predicates), and `terraform apply` of the resource (judging included).
//
//     attestinterop -cosign bench/bin/cosign -plugin-dir bench/bin/provider [-n 5] [-keep]
//
// Exit status 0 when every expected pass passes and every tamper case fails.
package attestinterop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
)

const password = "attest-interop"

type env struct {
	tb       *testing.T
	kind     string
	host     string // the proxy in front of the registry
	proxy    *acctest.Proxy
	reg      *acctest.Registry
	cosign   string
	tf       *acctest.TerraformRunner
	module   string
	dir      string
	keyPEM   string
	pubPEM   string
	otherPub string
	dbRepo   string
	failed   bool
}

var (
	cosignBin = flag.String("cosign", "../bin/cosign", "the cosign CLI v3.1.3")
	pluginDir = flag.String("plugin-dir", "../bin/provider", "directory holding the built terraform-provider-imageguard")
	runs      = flag.Int("n", 5, "timed runs of each way to attest")
)

func TestAttestInterop(t *testing.T) {
	module, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cosign, err := filepath.Abs(*cosignBin)
	if err != nil {
		t.Fatal(err)
	}
	tf := acctest.NewTerraformRunner(t, "", *pluginDir)
	fmt.Printf("cosign: %s\n", strings.TrimSpace(lastLine(run(t, t.TempDir(), nil, cosign, "version"), "GitVersion")))
	for _, kind := range []string{"docker-registry (distribution 2.8, no referrers API)", "in-process registry (referrers API)"} {
		var target string
		if strings.HasPrefix(kind, "docker") {
			target = "http://" + acctest.StartDockerRegistry(t, "").Host
		} else {
			target = acctest.NewRegistry(t).Server.URL
		}
		proxy := acctest.StartProxy(t, kind, target)
		e := &env{tb: t, kind: kind, host: proxy.Host, proxy: proxy, reg: &acctest.Registry{Host: proxy.Host}, cosign: cosign, tf: tf, module: module, dir: t.TempDir()}
		fmt.Printf("\n== %s on %s\n", kind, e.host)
		e.run(*runs)
	}
}

func (e *env) run(n int) {
	e.setup()
	a := e.push("team/app")
	tampered := e.push("team/tampered")
	copied := e.push("team/copied")
	for _, img := range []string{a, tampered, copied} {
		e.cosignDo("sign", "--key", e.keyFile(), "--use-signing-config=false", "--tlog-upload=false", "--allow-http-registry", "--yes", img)
	}

	fmt.Println("-- imageguard_attestation (terraform apply), key from `cosign generate-key-pair`, tlog_upload = false")
	ws := e.workspace("attest", map[string]any{"images": map[string]string{"app": a, "tampered": tampered}})
	start := time.Now()
	res := e.tf.Run(ws, acctest.RunOptions{Timeout: 10 * time.Minute, Env: e.tfEnv()}, "apply", "-auto-approve", "-input=false", "-no-color")
	if !res.OK() {
		e.fail("terraform apply", res.String())
		return
	}
	out := e.tf.Run(ws, acctest.RunOptions{Timeout: time.Minute, Env: e.tfEnv()}, "output", "-json", "attestations")
	fmt.Printf("  ok   applied in %s: %s\n", time.Since(start).Round(time.Millisecond), compact(out.Stdout))

	fmt.Println("-- verification of what the resource made")
	cv := []string{"--insecure-ignore-tlog=true", "--allow-http-registry"}
	e.expect(true, "cosign verify-attestation --type vuln            team/app", e.cosignOK(append([]string{"verify-attestation", "--key", e.pubFile(), "--type", "vuln"}, append(cv, a)...)...))
	e.expect(true, "cosign verify-attestation --type <verdict URI>   team/app", e.cosignOK(append([]string{"verify-attestation", "--key", e.pubFile(), "--type", attest.VerdictPredicateType}, append(cv, a)...)...))
	e.expect(true, "imageguard_verify (terraform plan)               team/app", e.verifyOK(a, e.pubPEM))

	fmt.Println("-- tamper cases (must fail in both)")
	e.tamperPredicate(tampered)
	e.copyAttestation(a, copied)
	e.expect(false, "cosign verify-attestation, edited predicate     team/tampered", e.cosignOK(append([]string{"verify-attestation", "--key", e.pubFile(), "--type", "vuln"}, append(cv, tampered)...)...))
	e.expect(false, "imageguard_verify, edited predicate             team/tampered", e.verifyOK(tampered, e.pubPEM))
	e.expect(false, "cosign verify-attestation, another key          team/app", e.cosignOK(append([]string{"verify-attestation", "--key", e.otherPubFile(), "--type", "vuln"}, append(cv, a)...)...))
	e.expect(false, "imageguard_verify, another key                  team/app", e.verifyOK(a, e.otherPub))
	e.expect(false, "cosign verify-attestation, copied to a digest   team/copied", e.cosignOK(append([]string{"verify-attestation", "--key", e.pubFile(), "--type", "vuln"}, append(cv, copied)...)...))
	e.expect(false, "imageguard_verify, copied to another digest     team/copied", e.verifyOK(copied, e.pubPEM))

	e.benchmark(a, n)
}

func (e *env) setup() {
	keys := filepath.Join(e.dir, "keys")
	other := filepath.Join(keys, "other")
	must(e.tb, os.MkdirAll(other, 0o700), "keys")
	for _, d := range []string{keys, other} {
		run(e.tb, d, e.cosignEnv(), e.cosign, "generate-key-pair")
	}
	read := func(p string) string { b, err := os.ReadFile(p); must(e.tb, err, p); return string(b) }
	e.keyPEM, e.pubPEM, e.otherPub = read(e.keyFile()), read(e.pubFile()), read(e.otherPubFile())
	now := time.Now().UTC()
	e.reg.PushTrivyDB(e.tb, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(e.tb, []string{acctest.FixtureAdvisories}, acctest.DBMeta{UpdatedAt: now.Add(-time.Hour), NextUpdate: now.Add(23 * time.Hour)}))
	e.dbRepo = e.host + "/aquasecurity/trivy-db:2"
}

func (e *env) keyFile() string      { return filepath.Join(e.dir, "keys", "cosign.key") }
func (e *env) pubFile() string      { return filepath.Join(e.dir, "keys", "cosign.pub") }
func (e *env) otherPubFile() string { return filepath.Join(e.dir, "keys", "other", "cosign.pub") }

// push writes an Alpine 3.23 image without known vulnerabilities and returns
// its digest-pinned reference.
func (e *env) push(repo string) string {
	d := e.reg.Push(e.tb, repo+":1", acctest.Image(acctest.Config{User: "1000"},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}),
		acctest.Layer(acctest.File{Path: "/seed", Content: repo + "\n"})))
	return e.host + "/" + repo + "@" + d.String()
}

func (e *env) cosignEnv() []string {
	home := filepath.Join(e.dir, "home")
	_ = os.MkdirAll(filepath.Join(home, "docker"), 0o700)
	return []string{"COSIGN_PASSWORD=" + password, "HOME=" + home, "DOCKER_CONFIG=" + filepath.Join(home, "docker"), "TUF_ROOT=" + filepath.Join(home, "tuf")}
}

func (e *env) tfEnv() []string {
	return []string{"COSIGN_PASSWORD=" + password, "IMAGEGUARD_CACHE_DIR=" + filepath.Join(e.dir, "cache")}
}

func (e *env) cosignDo(args ...string) {
	if err := e.cosignRun(args...); err != nil {
		e.fail("cosign "+args[0], err.Error())
	}
}

func (e *env) cosignRun(args ...string) error {
	cmd := exec.Command(e.cosign, args...)
	cmd.Env = append(os.Environ(), e.cosignEnv()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, lastLines(string(out), 3))
	}
	return nil
}

// outcome is whether a verification passed, and why not.
type outcome struct {
	ok  bool
	why string
}

func (e *env) cosignOK(args ...string) outcome {
	if err := e.cosignRun(args...); err != nil {
		return outcome{why: err.Error()}
	}
	return outcome{ok: true}
}

var wsCount int

func (e *env) workspace(name string, vars map[string]any) string {
	wsCount++
	vars["db_repository"] = e.dbRepo
	vars["private_key_pem"] = e.keyPEM
	dir := filepath.Join(e.dir, fmt.Sprintf("ws-%s-%d", name, wsCount))
	acctest.Workspace(e.tb, filepath.Join(e.module, "bench", "testdata", "cosign", "attest-resource"), dir, vars)
	return dir
}

// verifyOK plans imageguard_verify on image with the public key.
func (e *env) verifyOK(image, pub string) outcome {
	ws := e.workspace("verify", map[string]any{"verify": map[string]string{"x": image}, "public_key_pem": pub})
	res := e.tf.Run(ws, acctest.RunOptions{Timeout: 5 * time.Minute, Env: e.tfEnv()}, "plan", "-input=false", "-no-color")
	if res.OK() {
		return outcome{ok: true}
	}
	return outcome{why: reasons(res.Stdout + res.Stderr)}
}

func (e *env) expect(pass bool, label string, o outcome) {
	ok, why := o.ok, o.why
	switch {
	case ok == pass && ok:
		fmt.Printf("  ok   %s: verified\n", label)
	case ok == pass:
		fmt.Printf("  ok   %s: refused — %s\n", label, why)
	case ok:
		e.fail(label, "verified, but it must fail")
	default:
		e.fail(label, "refused, but it must verify: "+why)
	}
}

func (e *env) fail(what, detail string) {
	e.failed = true
	fmt.Printf("  FAIL %s: %s\n", what, detail)
	e.tb.Errorf("%s (%s): %s", what, e.kind, detail)
}

func (e *env) store(image string) (attest.Store, v1.Hash) {
	ref, err := name.NewDigest(image, name.WeakValidation)
	must(e.tb, err, image)
	h, err := v1.NewHash(ref.DigestStr())
	must(e.tb, err, image)
	return attest.Store{Repository: ref.Context(), Options: []remote.Option{remote.WithAuth(authn.Anonymous)}}, h
}

func (e *env) bundleOf(st attest.Store, referrer v1.Hash) []byte {
	img, err := remote.Image(st.Repository.Digest(referrer.String()), remote.WithAuth(authn.Anonymous))
	must(e.tb, err, "referrer")
	layers, err := img.Layers()
	must(e.tb, err, "referrer layers")
	rc, err := layers[0].Compressed()
	must(e.tb, err, "bundle")
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(e.tb, err, "bundle")
	return b
}

func (e *env) find(st attest.Store, d v1.Hash) attest.Attached {
	found, err := st.Find(context.Background(), d, []string{attest.VulnPredicateType})
	must(e.tb, err, "find")
	if len(found) == 0 {
		e.tb.Fatalf("no vuln attestation on %s", d)
	}
	return found[0]
}

// tamperPredicate replaces image's vulnerability attestation with one whose
// signed statement was edited (the scanner version), signature kept.
func (e *env) tamperPredicate(image string) {
	st, d := e.store(image)
	a := e.find(st, d)
	b := e.bundleOf(st, a.Digest)
	var doc map[string]any
	must(e.tb, json.Unmarshal(b, &doc), "bundle JSON")
	env, _ := doc["dsseEnvelope"].(map[string]any)
	payloadB64, _ := env["payload"].(string)
	payload, err := base64.StdEncoding.DecodeString(payloadB64)
	must(e.tb, err, "payload")
	edited := bytes.ReplaceAll(payload, []byte(`"Severity":`), []byte(`"Severity_":`))
	edited = bytes.Replace(edited, []byte("trivy@0.74.0"), []byte("trivy@0.74.1"), 1)
	env["payload"] = base64.StdEncoding.EncodeToString(edited)
	b, err = json.Marshal(doc)
	must(e.tb, err, "bundle")
	must(e.tb, st.Delete(context.Background(), d, []v1.Hash{a.Digest}), "delete the original")
	desc, err := remote.Head(st.Repository.Digest(d.String()), remote.WithAuth(authn.Anonymous))
	must(e.tb, err, "head")
	_, err = st.Attach(context.Background(), *desc, b, attest.VulnPredicateType, time.Now())
	must(e.tb, err, "attach the edited bundle")
}

// copyAttestation attaches from's vulnerability attestation to to.
func (e *env) copyAttestation(from, to string) {
	fst, fd := e.store(from)
	b := e.bundleOf(fst, e.find(fst, fd).Digest)
	tst, td := e.store(to)
	desc, err := remote.Head(tst.Repository.Digest(td.String()), remote.WithAuth(authn.Anonymous))
	must(e.tb, err, "head")
	_, err = tst.Attach(context.Background(), *desc, b, attest.VulnPredicateType, time.Now())
	must(e.tb, err, "attach the copy")
}

// benchmark times the three ways to attest one image, each on fresh images.
func (e *env) benchmark(sample string, n int) {
	st, d := e.store(sample)
	var stmt struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	var doc struct {
		DSSE struct {
			Payload []byte `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	must(e.tb, json.Unmarshal(e.bundleOf(st, e.find(st, d).Digest), &doc), "bundle")
	must(e.tb, json.Unmarshal(doc.DSSE.Payload, &stmt), "statement")
	predFile := filepath.Join(e.dir, "vuln-predicate.json")
	must(e.tb, os.WriteFile(predFile, stmt.Predicate, 0o600), "predicate")
	fmt.Printf("-- attesting one image, N=%d each (vulnerability predicate %d bytes; wall time; registry requests through the proxy)\n", n, len(stmt.Predicate))

	measure := func(label string, f func(i int) error) {
		var walls []time.Duration
		var reqs []int
		var last []acctest.ProxyEvent
		for i := 0; i < n; i++ {
			before := len(e.proxy.Events())
			t := time.Now()
			if err := f(i); err != nil {
				e.fail(label, err.Error())
				return
			}
			walls = append(walls, time.Since(t))
			evs := e.proxy.Events()[before:]
			reqs = append(reqs, len(evs))
			last = evs
		}
		fmt.Printf("  %-58s %s; requests per run %v\n", label, stats(walls), reqs)
		fmt.Printf("      %s\n", requestSummary(last))
	}
	images := func(prefix string) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, e.push(fmt.Sprintf("bench/%s-%d", prefix, i)))
		}
		return out
	}
	cosignImgs := images("cosign")
	measure("cosign attest --type vuln (1 attestation)", func(i int) error {
		return e.cosignRun("attest", "--key", e.keyFile(), "--use-signing-config=false", "--tlog-upload=false", "--allow-http-registry", "--yes",
			"--type", "vuln", "--predicate", predFile, cosignImgs[i])
	})
	libImgs := images("lib")
	signer, err := attest.NewSigner(context.Background(), attest.SignerOptions{PrivateKeyPEM: []byte(e.keyPEM), Password: []byte(password)})
	must(e.tb, err, "signer")
	measure("imageguard library: sign + attach vuln and verdict (2)", func(i int) error {
		lst, ld := e.store(libImgs[i])
		desc, err := remote.Head(lst.Repository.Digest(ld.String()), remote.WithAuth(authn.Anonymous))
		if err != nil {
			return err
		}
		var bundles []attest.Bundle
		for _, p := range []struct {
			t    string
			pred json.RawMessage
		}{{attest.VulnPredicateType, stmt.Predicate}, {attest.VerdictPredicateType, json.RawMessage(`{"result":"passed"}`)}} {
			s, err := attest.Statement(attest.Subject{Name: lst.Repository.Name(), Digest: ld}, p.t, p.pred)
			if err != nil {
				return err
			}
			signed, err := signer.Sign(context.Background(), s)
			if err != nil {
				return err
			}
			bundles = append(bundles, attest.Bundle{JSON: signed.Bundle, PredicateType: p.t})
		}
		_, err = lst.AttachAll(context.Background(), *desc, bundles, time.Now())
		return err
	})
	tfImgs := images("terraform")
	measure("terraform apply imageguard_attestation (judge + 2)", func(i int) error {
		ws := e.workspace("bench", map[string]any{"images": map[string]string{"app": tfImgs[i]}})
		res := e.tf.Run(ws, acctest.RunOptions{Timeout: 10 * time.Minute, Env: e.tfEnv()}, "apply", "-auto-approve", "-input=false", "-no-color")
		if !res.OK() {
			return fmt.Errorf("%s", lastLines(res.Stdout+res.Stderr, 8))
		}
		return nil
	})
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return fmt.Sprintf("mean %4d ms (min %d, max %d)", (sum / time.Duration(len(ds))).Milliseconds(), sorted[0].Milliseconds(), sorted[len(sorted)-1].Milliseconds())
}

// requestSummary counts one run's requests by method and kind of path.
func requestSummary(evs []acctest.ProxyEvent) string {
	counts := map[string]int{}
	for _, ev := range evs {
		kind := "other"
		switch {
		case strings.Contains(ev.Path, "/referrers/"):
			kind = "referrers"
		case strings.Contains(ev.Path, "/manifests/sha256-"):
			kind = "manifests/<referrers tag>"
		case strings.Contains(ev.Path, "/manifests/"):
			kind = "manifests"
		case strings.Contains(ev.Path, "/blobs/uploads"):
			kind = "blobs/uploads"
		case strings.Contains(ev.Path, "/blobs/"):
			kind = "blobs"
		case ev.Path == "/v2/":
			kind = "/v2/"
		}
		counts[fmt.Sprintf("%s %s %d", ev.Method, kind, ev.Status)]++
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d× %s", counts[k], k))
	}
	return strings.Join(parts, ", ")
}

func run(tb testing.TB, dir string, env []string, bin string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	must(tb, err, fmt.Sprintf("%s %s: %s", filepath.Base(bin), strings.Join(args, " "), out))
	return string(out)
}

func must(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

func reasons(out string) string {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "│"))
		if strings.HasPrefix(l, "- authority") {
			return l
		}
	}
	return lastLines(out, 3)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func lastLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return l
		}
	}
	return lastLines(s, 1)
}

func compact(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return strings.TrimSpace(s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
