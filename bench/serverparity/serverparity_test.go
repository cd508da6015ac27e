//go:build bench

// Package serverparity checks that a plan against a `trivy server` reports
// the same findings as `trivy image --server` for the same image: the
// provider's server mode (scanner_server) and Trivy's own client, against
// the same server build (bench/bin/trivy, Trivy v0.74.0 built from the Go
// module proxy's source) and the same database.
//
// It starts the test harness's in-process registry on 127.0.0.1 with the
// fixture database and the fixture images of bench/scanvstrivy (the images
// of internal/provider's scan tests plus the benchmark image), and two
// `trivy server --skip-db-update` processes with the same database copy,
// each behind a counting proxy: one for the trivy CLI, one for the provider,
// so that neither reuses layer analyses the other uploaded (-shared-server
// uses one server for both, provider first; they still share no analysis,
// since the provider keys the server's cache with its own secret).
//
//   - trivy: `trivy image --server URL --token T --scanners vuln,secret
//     --format json --image-src remote` per image (and per platform of the
//     multi-platform index, with --platform);
//   - provider: bench/testdata/fleet with every image and scanner_server
//     { url, token }, no database repository, an empty cache_dir: the real
//     terraform runs `plan -out`, `apply` of that plan, `output -json`.
//
// Compared per image and platform: the vulnerability ids, the (id, package,
// installed version) triples and the secret rule ids. TestServerParity
// fails on a difference or an error (bench/server_parity.sh runs it).
package serverparity

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/bench/internal/benchkit"
	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

const (
	dbRepoTag = "aquasecurity/trivy-db:2"
	token     = "parity-token-7a3e"
)

// ---------------------------------------------------------------- trivy

type trivyReport struct {
	ArtifactName string
	Results      []struct {
		Target          string
		Vulnerabilities []struct {
			VulnerabilityID  string
			PkgName          string
			InstalledVersion string
		}
		Secrets []struct {
			RuleID string
		}
	}
}

// findings are the compared sets for one platform image.
type findings struct {
	ids     map[string]bool // vulnerability id
	triples map[string]bool // id | package | installed
	secrets map[string]bool // rule id (× occurrences)
}

func newFindings() *findings {
	return &findings{ids: map[string]bool{}, triples: map[string]bool{}, secrets: map[string]bool{}}
}

func fromTrivy(r *trivyReport) *findings {
	f := newFindings()
	n := map[string]int{}
	for _, res := range r.Results {
		for _, v := range res.Vulnerabilities {
			f.ids[v.VulnerabilityID] = true
			f.triples[v.VulnerabilityID+" | "+v.PkgName+" | "+v.InstalledVersion] = true
		}
		for _, s := range res.Secrets {
			n[s.RuleID]++
			f.secrets[fmt.Sprintf("%s #%d", s.RuleID, n[s.RuleID])] = true
		}
	}
	return f
}

// fromProvider picks one platform's findings from the outputs of
// bench/testdata/fleet ("platform|id|package|installed" and
// "platform|rule|target"); platform "" means all.
func fromProvider(o *benchkit.Outputs, key, platform string) *findings {
	f := newFindings()
	for _, s := range o.Findings[key] {
		p := strings.SplitN(s, "|", 4)
		if len(p) != 4 || (platform != "" && p[0] != platform) {
			continue
		}
		f.ids[p[1]] = true
		f.triples[p[1]+" | "+p[2]+" | "+p[3]] = true
	}
	n := map[string]int{}
	for _, s := range o.Secrets[key] {
		p := strings.SplitN(s, "|", 3)
		if len(p) != 3 || (platform != "" && p[0] != platform) {
			continue
		}
		n[p[1]]++
		f.secrets[fmt.Sprintf("%s #%d", p[1], n[p[1]])] = true
	}
	return f
}

func platformsOf(o *benchkit.Outputs, key string) []string {
	seen := map[string]bool{}
	for _, p := range o.Platforms[key] {
		seen[p] = true
	}
	for _, list := range [][]string{o.Findings[key], o.Secrets[key]} {
		for _, s := range list {
			seen[strings.SplitN(s, "|", 2)[0]] = true
		}
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func list(m map[string]bool) string {
	if len(m) == 0 {
		return "-"
	}
	return strings.Join(benchkit.SortedKeys(m), ",")
}

var (
	trivyBin  = flag.String("trivy", "../bin/trivy", "the trivy CLI (server and client)")
	pluginDir = flag.String("plugin-dir", "../bin/provider", "directory holding the built terraform-provider-imageguard")
	bulkMiB   = flag.Int("bulk-mib", 4, "MiB of data in the benchmark image's bulk layer")
	shared    = flag.Bool("shared-server", false, "one trivy server for both (the provider scans first; the CLI cannot reuse its layer analyses, which are keyed with the provider's secret)")
	keep      = flag.Bool("keep", false, "keep the working directory (its path is printed)")
)

func TestServerParity(t *testing.T) {
	trivyBin, shared := *trivyBin, *shared
	workDir := t.TempDir()
	if *keep {
		var err error
		if workDir, err = os.MkdirTemp("", "imageguard-serverparity-"); err != nil {
			t.Fatal(err)
		}
		fmt.Println("working directory (kept):", workDir)
	}
	tf := acctest.NewTerraformRunner(t, "", *pluginDir)
	tfBin := tf.Bin

	reg := acctest.NewRegistry(t)
	now := time.Now()
	dbDir := t.TempDir()
	acctest.BuildTrivyDB(t, dbDir, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(now))
	reg.PushTrivyDB(t, dbRepoTag, acctest.TrivyDBArchiveOf(t, dbDir))
	images := acctest.PushScanFixtures(t, reg, *bulkMiB<<20)

	startServer := func(name string) (string, *acctest.Proc, *acctest.Proxy) {
		cache := filepath.Join(workDir, "server-"+name)
		acctest.InstallTrivyDB(t, filepath.Join(dbDir, "trivy.db"), cache, now)
		url, p := acctest.StartTrivyServer(t, trivyBin, cache, token, filepath.Join(workDir, "server-"+name+".log"))
		return url, p, acctest.StartProxy(t, name, url)
	}
	cliURL, cliProc, cliProxy := startServer("for-trivy-cli")
	provURL, provProc, provProxy := cliURL, cliProc, cliProxy
	if !shared {
		provURL, provProc, provProxy = startServer("for-provider")
	}
	_ = provURL

	ver, _ := exec.Command(trivyBin, "--version").Output()
	tfVer, _ := exec.Command(tfBin, "version").Output()
	fmt.Printf("trivy:     %s (%s): `trivy server --skip-db-update` and `trivy image --server`\n", trivyBin, strings.TrimSpace(benchkit.FirstLine(string(ver))))
	fmt.Printf("provider:  %s/terraform-provider-imageguard (Trivy v0.74.0 client packages), via %s\n", tf.PluginDir, benchkit.FirstLine(string(tfVer)))
	fmt.Printf("registry:  %s (in-process); database %s, updated %s\n", reg.Host, reg.Ref(dbRepoTag), acctest.FreshDBMeta(now).UpdatedAt.Format(time.RFC3339))
	if shared {
		fmt.Printf("servers:   one, %s, for both (the provider first)\n", cliURL)
	} else {
		fmt.Printf("servers:   %s for the trivy CLI, %s for the provider (same binary, same database copy, separate layer caches)\n", cliProxy.Host, provProxy.Host)
	}

	// The provider: plan -out, apply the plan, output -json.
	ws := filepath.Join(workDir, "ws")
	refs := map[string]string{}
	for _, img := range images {
		refs[img.RepoTag] = reg.Ref(img.RepoTag)
	}
	cacheDir := filepath.Join(workDir, "provider-cache")
	acctest.Workspace(t, benchkit.FleetWorkspace, ws, map[string]any{
		"images":        refs,
		"cache_dir":     cacheDir,
		"scanner_url":   "http://" + provProxy.Host,
		"scanner_token": token,
	})
	fmt.Println()
	var outputs *benchkit.Outputs
	for _, args := range [][]string{
		{"plan", "-input=false", "-no-color", "-out=tfplan"},
		{"apply", "-input=false", "-no-color", "tfplan"},
		{"output", "-json", "-no-color"},
	} {
		r := tf.Run(ws, acctest.RunOptions{Timeout: 10 * time.Minute}, args...)
		fmt.Printf("terraform %s: exit %d, %s\n", strings.Join(args, " "), r.Code, benchkit.Secs(r.Wall))
		if !r.OK() {
			t.Fatal(r.String())
		}
		if args[0] == "output" {
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(r.Stdout), &raw); err != nil {
				t.Fatalf("terraform output -json: %v", err)
			}
			var err error
			if outputs, err = benchkit.ParseOutputs(raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	provScans, provPuts := countRPC(provProxy, "Scan"), countRPC(provProxy, "PutBlob")
	fmt.Printf("the provider's trivy server answered %d Scan calls and %d PutBlob calls\n", provScans, provPuts)
	if _, err := os.Stat(filepath.Join(cacheDir, "db", "trivy.db")); err == nil {
		t.Fatal("the provider has a local database in its cache_dir: server mode must not download one")
	}

	// trivy image --server, per image and platform.
	cliCache := filepath.Join(workDir, "trivy-cli-cache")
	type row struct {
		image, platform string
		trivy, ours     *findings
	}
	var rows []row
	for _, img := range images {
		platforms := img.Platforms
		if len(platforms) == 0 {
			platforms = []string{""}
		}
		for _, p := range platforms {
			out := filepath.Join(workDir, fmt.Sprintf("trivy-%d.json", time.Now().UnixNano()))
			args := []string{"image", "--server", "http://" + cliProxy.Host, "--token", token,
				"--scanners", "vuln,secret", "--format", "json", "--image-src", "remote",
				"--cache-dir", cliCache, "--quiet", "--skip-version-check", "--disable-telemetry", "--output", out}
			if p != "" {
				args = append(args, "--platform", p)
			}
			args = append(args, reg.Ref(img.RepoTag))
			cmd := exec.Command(trivyBin, args...)
			cmd.Env = append(os.Environ(), "TRIVY_NO_PROGRESS=true")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("trivy %s: %v\n%s", strings.Join(args, " "), err, b)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("trivy output: %v", err)
			}
			var rep trivyReport
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatalf("trivy JSON: %v", err)
			}
			ourPlatform := p
			if p == "" {
				if ps := platformsOf(outputs, img.RepoTag); len(ps) == 1 {
					ourPlatform = ps[0]
				}
			}
			// The provider must have scanned that platform (it lists the
			// platforms of its targets; an image with nothing to scan lists none).
			if ps := outputs.Platforms[img.RepoTag]; p != "" && !contains(ps, p) {
				t.Fatalf("%s: the provider scanned platforms %v, not %s", img.RepoTag, ps, p)
			}
			rows = append(rows, row{image: img.RepoTag, platform: benchkit.OrDash(ourPlatform), trivy: fromTrivy(&rep), ours: fromProvider(outputs, img.RepoTag, p)})
		}
	}
	fmt.Printf("trivy image --server: %d runs; its trivy server answered %d Scan calls and %d PutBlob calls\n", len(rows), countRPC(cliProxy, "Scan")-boolInt(shared)*provScans, countRPC(cliProxy, "PutBlob")-boolInt(shared)*provPuts)

	fmt.Println("\n== Finding ids per image: trivy image --server vs terraform plan with scanner_server")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tPLATFORM\tIDS (trivy image --server)\tIDS (provider)\tSECRETS trivy/provider\tMATCH")
	var notes []string
	ok := true
	for _, r := range rows {
		i1, i2 := benchkit.Diff(r.trivy.ids, r.ours.ids)
		t1, t2 := benchkit.Diff(r.trivy.triples, r.ours.triples)
		s1, s2 := benchkit.Diff(r.trivy.secrets, r.ours.secrets)
		match := len(i1)+len(i2)+len(t1)+len(t2)+len(s1)+len(s2) == 0
		status := "yes"
		if !match {
			status, ok = "NO", false
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\n", r.image, r.platform, list(r.trivy.ids), list(r.ours.ids), len(r.trivy.secrets), len(r.ours.secrets), status)
		for _, k := range t1 {
			notes = append(notes, fmt.Sprintf("%s %s: only trivy image --server: %s", r.image, r.platform, k))
		}
		for _, k := range t2 {
			notes = append(notes, fmt.Sprintf("%s %s: only the provider: %s", r.image, r.platform, k))
		}
		for _, k := range s1 {
			notes = append(notes, fmt.Sprintf("%s %s: secret only trivy image --server: %s", r.image, r.platform, k))
		}
		for _, k := range s2 {
			notes = append(notes, fmt.Sprintf("%s %s: secret only the provider: %s", r.image, r.platform, k))
		}
		if match {
			for _, k := range benchkit.SortedKeys(r.ours.triples) {
				notes = append(notes, fmt.Sprintf("  %-20s %-12s both: %s", r.image, r.platform, k))
			}
			for _, k := range benchkit.SortedKeys(r.ours.secrets) {
				notes = append(notes, fmt.Sprintf("  %-20s %-12s both: secret %s", r.image, r.platform, k))
			}
		}
	}
	_ = tw.Flush()
	fmt.Println("\n(id | package | installed) and secrets (\"both\" = reported by both; anything else is a difference):")
	for _, n := range notes {
		fmt.Println(n)
	}
	for _, p := range []*acctest.Proc{cliProc, provProc} {
		if strings.Contains(p.Log(), "ERROR") || strings.Contains(p.Log(), "FATAL") {
			fmt.Printf("\nnote: %s logged errors:\n%s\n", p.LogPath, benchkit.Tail(p.Log(), 2000))
		}
	}
	if provScans == 0 {
		t.Fatal("the provider's trivy server saw no Scan call")
	}
	if !ok {
		t.Fatal("the provider (server mode) and trivy image --server DIFFER (see above)")
	}
	fmt.Println("\nRESULT: the provider (server mode) and trivy image --server report the same finding ids on every image and platform")
}

func countRPC(p *acctest.Proxy, method string) int {
	n := 0
	for _, ev := range p.Events() {
		if strings.HasSuffix(ev.Path, "/"+method) {
			n++
		}
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
