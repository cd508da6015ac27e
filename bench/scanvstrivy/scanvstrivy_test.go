//go:build bench

// Package scanvstrivy checks that imageguard's scanner (Trivy v0.74.0 as a
// library, internal/scan) finds what the trivy CLI v0.74.0 finds, and times
// both on a bigger image, cold and warm.
//
// It starts the test harness's in-process registry on 127.0.0.1, publishes
// the fixture vulnerability database and the fixture images there (those of
// internal/provider's scan tests, plus the benchmark image of
// internal/scan/bench_test.go), and scans every image with both:
//
//   - ours: this test binary re-executed as a child process
//     (TestOursChild), so every run is a new process, as a new terraform
//     plan's provider is: registry client, database Manager, scan.Scanner,
//     then the scanner's Result as the scan gate takes it;
//   - trivy: `trivy image --cache-dir <dir> --skip-db-update
//     --skip-java-db-update --scanners vuln,secret --format json --quiet`,
//     once per platform (`--platform`) for a multi-platform index.
//
// Both read the same database: each cache directory gets a copy of the
// Manager's <cacheDir>/db (trivy's own layout). The program compares the
// sets of (vulnerability id, package, installed version) and of (secret
// rule, target), prints a table and fails on any difference
// (TestScanVsTrivy; bench/scan_vs_trivy.sh runs it).
//
// Timing is on the benchmark image: cold (no layer or report cache; the
// database present for both) and warm (the same cache directory again: for
// trivy a second invocation, for ours a new process over the same cache
// dir), wall time of the whole process, median of -reps runs, and the
// registry's blob GETs per run.
package scanvstrivy

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imageguard/terraform-provider-imageguard/bench/internal/benchkit"
	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

const dbRepoTag = "aquasecurity/trivy-db:2"

var (
	trivyBin = flag.String("trivy", "../bin/trivy", "the trivy CLI to compare with")
	keep     = flag.Bool("keep", false, "keep the working directory (its path is printed)")
	bulkMiB  = flag.Int("bulk-mib", 4, "MiB of data in the benchmark image's bulk layer")
	reps     = flag.Int("reps", 5, "timing runs per measurement (the median is reported)")
	verbose  = flag.Bool("verbose", false, "print every run's command, registry requests and raw secret targets")
)

// childEnv, when set, makes TestOursChild scan one reference as the
// provider does and write JSON to the file it names.
const childEnv = "IMAGEGUARD_SCANVSTRIVY_CHILD"

func TestScanVsTrivy(t *testing.T) {
	compare(t, *trivyBin, *keep, ourFixtures(*bulkMiB), *reps)
}

// TestScanVsTrivyOnTrivyTestdata compares on Trivy's own test data, as found
// in the Trivy module: the image tarballs of pkg/fanal/test/testdata and a
// database from every YAML fixture of integration/testdata/fixtures/db.
func TestScanVsTrivyOnTrivyTestdata(t *testing.T) {
	compare(t, *trivyBin, *keep, trivyTestdata(t), *reps)
}

// TestOursChild is the child process of TestScanVsTrivy ("ours").
func TestOursChild(t *testing.T) {
	out := os.Getenv(childEnv)
	if out == "" {
		t.Skip("run by TestScanVsTrivy")
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := runOursChild(f, os.Getenv(childEnv+"_REF"), os.Getenv(childEnv+"_CACHE_DIR"), os.Getenv(childEnv+"_DB_REPOSITORY")); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------- ours

// oursOutput is what the child prints.
type oursOutput struct {
	Results  []*scan.Result
	Analyses int64
	DB       scan.DBInfo
	// InProcess is the time from the start of main to the end of the last
	// Summarize: database check, resolve, scan, summarize.
	InProcess time.Duration
}

var processStart = time.Now()

// runOursChild does what the provider does for one `imageguard_scan` data
// source in a fresh provider process.
func runOursChild(w io.Writer, refStr, cacheDir, dbRepo string) error {
	ctx := context.Background()
	client, err := registry.New(registry.Options{Keychain: authn.NewMultiKeychain(), UserAgent: "scanvstrivy"})
	if err != nil {
		return err
	}
	manager := vulndb.NewManager(vulndb.Options{Repositories: []string{dbRepo}, CacheDir: cacheDir, RemoteOptions: client.RemoteOptions()})
	scanner := scan.New(client, scan.NewLocal(manager, cacheDir), cacheDir)
	ref, err := client.ParseReference(refStr)
	if err != nil {
		return err
	}
	resolved, err := client.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	platforms, err := client.Platforms(ctx, resolved, nil)
	if err != nil {
		return err
	}
	out := oursOutput{}
	for _, pm := range platforms {
		// As the scan gate does without VEX: the summary, whose platform
		// is the image config's for a single-platform image.
		res, db, err := scanner.Result(ctx, scan.Target{Resolved: resolved, Platform: pm}, scan.Options{})
		if err != nil {
			return err
		}
		out.DB = db
		out.Results = append(out.Results, res)
	}
	out.Analyses = scanner.Analyses()
	out.InProcess = time.Since(processStart)
	return json.NewEncoder(w).Encode(out)
}

// ---------------------------------------------------------------- fixtures

// ---------------------------------------------------------------- compare

type env struct {
	t       *testing.T
	trivy   string
	self    string
	work    string
	reg     *acctest.Registry
	dbRepo  string
	dbFile  string // trivy.db, installed in every cache directory
	now     time.Time
	counter int
}

// fixtureSet publishes a database's YAML fixtures and the images to scan.
type fixtureSet struct {
	name string
	// advisories are bolt-fixtures YAML documents for the database.
	advisories []string
	// push publishes the images and names them.
	push func(t *testing.T, reg *acctest.Registry) []acctest.FixtureImage
	// timed is the image timed cold and warm; "" skips timing.
	timed string
}

func ourFixtures(bulkMiB int) fixtureSet {
	return fixtureSet{
		name:       "imageguard's scan fixtures and acctest.FixtureAdvisories",
		advisories: []string{acctest.FixtureAdvisories},
		push: func(t *testing.T, reg *acctest.Registry) []acctest.FixtureImage {
			return acctest.PushScanFixtures(t, reg, bulkMiB<<20)
		},
		timed: "bench/app:1",
	}
}

func compare(t *testing.T, trivyBin string, keep bool, set fixtureSet, reps int) {
	var err error
	if trivyBin, err = filepath.Abs(trivyBin); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(trivyBin); err != nil {
		t.Fatalf("no trivy CLI at %s (bench/scan_vs_trivy.sh builds it): %v", trivyBin, err)
	}
	workDir := t.TempDir()
	if keep {
		if workDir, err = os.MkdirTemp("", "scanvstrivy-"); err != nil {
			t.Fatal(err)
		}
		fmt.Println("working directory (kept):", workDir)
	}

	ver, _ := exec.Command(trivyBin, "--version").Output()
	fmt.Printf("trivy CLI: %s (%s)\n", trivyBin, strings.TrimSpace(benchkit.FirstLine(string(ver))))
	fmt.Printf("ours:      internal/scan, Trivy %s as a library\n", scan.TrivyVersion)
	fmt.Printf("fixtures:  %s\n", set.name)

	// The database: built once, published for the provider, and installed
	// in every cache directory for both.
	reg := acctest.NewRegistry(t)
	now := time.Now()
	dbDir := t.TempDir()
	acctest.BuildTrivyDB(t, dbDir, set.advisories, acctest.FreshDBMeta(now))
	reg.PushTrivyDB(t, dbRepoTag, acctest.TrivyDBArchiveOf(t, dbDir))
	images := set.push(t, reg)
	e := &env{t: t, trivy: trivyBin, self: os.Args[0], work: workDir, reg: reg, dbRepo: reg.Ref(dbRepoTag), dbFile: filepath.Join(dbDir, "trivy.db"), now: now}
	fmt.Printf("registry:  %s (in-process, counts requests)\ndatabase:  %s, updated %s\n\n", reg.Host, e.dbRepo, acctest.FreshDBMeta(now).UpdatedAt.Format(time.RFC3339))

	ok := parity(e, images)
	if set.timed != "" {
		if err := timing(e, set.timed, reps); err != nil {
			t.Fatalf("timing: %v", err)
		}
	}
	if !ok {
		t.Fatal("our scanner and the trivy CLI DIFFER (see above)")
	}
	fmt.Println("\nRESULT: our scanner and the trivy CLI agree on every image and platform")
}

// freshCache makes a cache directory holding only the database.
func (e *env) freshCache(label string) string {
	e.counter++
	dir := filepath.Join(e.work, fmt.Sprintf("cache-%02d-%s", e.counter, label))
	acctest.InstallTrivyDB(e.t, e.dbFile, dir, e.now)
	return dir
}

// run is one process run: its wall time and the registry requests it made.
type run struct {
	wall      time.Duration
	blobs     int
	manifests int
}

func (e *env) measure(cmd *exec.Cmd) (run, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	e.reg.ResetRequests()
	start := time.Now()
	err := cmd.Run()
	r := run{wall: time.Since(start), blobs: e.reg.CountBlobs(), manifests: e.reg.CountManifests()}
	if *verbose {
		fmt.Printf("   [run] %s (%s)\n", strings.Join(cmd.Args, " "), ms(r.wall))
		for _, q := range e.reg.Requests() {
			fmt.Printf("   [run]   %s %s\n", q.Method, q.Path)
		}
	}
	if err != nil {
		return r, nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return r, stdout.Bytes(), nil
}

func (e *env) ours(repoTag, cacheDir string) (*oursOutput, run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	outFile := filepath.Join(e.work, fmt.Sprintf("ours-%d.json", time.Now().UnixNano()))
	cmd := exec.CommandContext(ctx, e.self, "-test.run=^TestOursChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+outFile, childEnv+"_REF="+e.reg.Ref(repoTag), childEnv+"_CACHE_DIR="+cacheDir, childEnv+"_DB_REPOSITORY="+e.dbRepo)
	r, _, err := e.measure(cmd)
	if err != nil {
		return nil, r, err
	}
	out, err := os.ReadFile(outFile)
	if err != nil {
		return nil, r, err
	}
	var o oursOutput
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, r, fmt.Errorf("ours %s: bad output: %w", repoTag, err)
	}
	return &o, r, nil
}

// trivyReport is the part of `trivy image --format json` compared here.
type trivyReport struct {
	ArtifactName string
	Metadata     struct {
		OS *struct{ Family, Name string }
	}
	Results []struct {
		Target          string
		Class           string
		Type            string
		Vulnerabilities []struct {
			VulnerabilityID  string
			PkgName          string
			InstalledVersion string
			FixedVersion     string
			Severity         string
		}
		Secrets []struct {
			RuleID    string
			StartLine int
		}
	}
}

func (e *env) trivyScan(repoTag, platform, cacheDir string) (*trivyReport, run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	outFile := filepath.Join(cacheDir, "..", filepath.Base(cacheDir)+fmt.Sprintf("-trivy-%d.json", time.Now().UnixNano()))
	args := []string{"image",
		"--cache-dir", cacheDir,
		"--skip-db-update", "--skip-java-db-update",
		"--scanners", "vuln,secret",
		"--format", "json", "--quiet",
		// No effect on findings: read the registry only (the provider has
		// no Docker daemon either), and no calls home (no internet here).
		"--image-src", "remote", "--skip-version-check", "--disable-telemetry",
		"--output", outFile,
	}
	if platform != "" {
		args = append(args, "--platform", platform)
	}
	args = append(args, e.reg.Ref(repoTag))
	cmd := exec.CommandContext(ctx, e.trivy, args...)
	cmd.Env = append(os.Environ(), "TRIVY_NO_PROGRESS=true")
	r, _, err := e.measure(cmd)
	if err != nil {
		return nil, r, err
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		return nil, r, err
	}
	var rep trivyReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, r, fmt.Errorf("trivy %s: bad JSON: %w", repoTag, err)
	}
	return &rep, r, nil
}

// findings are the compared sets for one platform image.
type findings struct {
	os      string
	vulns   map[string]bool // id | package | installed
	details map[string]string
	secrets map[string]bool // rule | target
}

func newFindings() *findings {
	return &findings{vulns: map[string]bool{}, details: map[string]string{}, secrets: map[string]bool{}}
}

// imageNames are the names an image goes by in targets: ours names it
// repo@digest, trivy the reference as given.
func normalizeTarget(t string, names ...string) string {
	for _, n := range names {
		if n != "" {
			t = strings.ReplaceAll(t, n, "<image>")
		}
	}
	return t
}

func fromOurs(res *scan.Result, names ...string) *findings {
	f := newFindings()
	f.os = res.OS
	for _, v := range res.Findings {
		k := v.ID + " | " + v.Package + " | " + v.InstalledVersion
		f.vulns[k] = true
		f.details[k] = fmt.Sprintf("%s fixed=%s", v.Severity, v.FixedVersion)
	}
	for _, s := range res.Secrets {
		f.secrets[s.RuleID+" | "+normalizeTarget(s.Target, names...)] = true
	}
	return f
}

func fromTrivy(rep *trivyReport, names ...string) *findings {
	f := newFindings()
	if rep.Metadata.OS != nil {
		f.os = strings.TrimSpace(rep.Metadata.OS.Family + " " + rep.Metadata.OS.Name)
	}
	for _, r := range rep.Results {
		for _, v := range r.Vulnerabilities {
			k := v.VulnerabilityID + " | " + v.PkgName + " | " + v.InstalledVersion
			f.vulns[k] = true
			f.details[k] = fmt.Sprintf("%s fixed=%s", v.Severity, v.FixedVersion)
		}
		for _, s := range r.Secrets {
			f.secrets[s.RuleID+" | "+normalizeTarget(r.Target, names...)] = true
		}
	}
	return f
}

func parity(e *env, images []acctest.FixtureImage) bool {
	fmt.Println("== Parity: cold scans, each in its own cache directory (database copied in)")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tPLATFORM\tOS (ours / trivy)\tVULNS ours/trivy\tSECRETS ours/trivy\tBLOB GETs ours/trivy\tMATCH")
	var notes []string
	allOK := true
	for _, img := range images {
		o, or, err := e.ours(img.RepoTag, e.freshCache("parity-ours"))
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tERROR (ours)\n", img.RepoTag)
			notes = append(notes, fmt.Sprintf("%s: ours failed: %v", img.RepoTag, err))
			allOK = false
			continue
		}
		byPlatform := map[string]*scan.Result{}
		for _, r := range o.Results {
			byPlatform[r.Platform] = r
		}
		platforms := img.Platforms
		if len(platforms) == 0 {
			if len(o.Results) != 1 {
				notes = append(notes, fmt.Sprintf("%s: ours scanned %d platforms, want 1", img.RepoTag, len(o.Results)))
				allOK = false
				continue
			}
			platforms = []string{o.Results[0].Platform}
		} else if len(o.Results) != len(platforms) {
			notes = append(notes, fmt.Sprintf("%s: ours scanned %d platforms, trivy is asked for %d", img.RepoTag, len(o.Results), len(platforms)))
			allOK = false
		}
		trivyBlobs := 0
		for _, p := range platforms {
			flagPlatform := ""
			if len(img.Platforms) > 0 {
				flagPlatform = p
			}
			ores := byPlatform[p]
			rep, tr, err := e.trivyScan(img.RepoTag, flagPlatform, e.freshCache("parity-trivy"))
			trivyBlobs += tr.blobs
			if err != nil || ores == nil {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\tERROR\n", img.RepoTag, p)
				notes = append(notes, fmt.Sprintf("%s %s: trivy error %v; ours has platform: %t", img.RepoTag, p, err, ores != nil))
				allOK = false
				continue
			}
			names := []string{e.reg.Ref(img.RepoTag), repoOf(e.reg.Ref(img.RepoTag)) + "@" + ores.Digest}
			of, tf := fromOurs(ores, names...), fromTrivy(rep, names...)
			if *verbose {
				for _, sc := range ores.Secrets {
					fmt.Printf("   [secret] ours  %s %s line %d\n", sc.RuleID, sc.Target, sc.Line)
				}
				for _, r := range rep.Results {
					for _, sc := range r.Secrets {
						fmt.Printf("   [secret] trivy %s %s line %d\n", sc.RuleID, r.Target, sc.StartLine)
					}
				}
			}
			ov1, tv1 := benchkit.Diff(of.vulns, tf.vulns)
			os1, ts1 := benchkit.Diff(of.secrets, tf.secrets)
			match := len(ov1)+len(tv1)+len(os1)+len(ts1) == 0 && of.os == tf.os
			// The same keys must also carry the same severity and fixed version.
			for k := range of.vulns {
				if tf.vulns[k] && of.details[k] != tf.details[k] {
					match = false
					notes = append(notes, fmt.Sprintf("%s %s: %s: ours %s, trivy %s", img.RepoTag, p, k, of.details[k], tf.details[k]))
				}
			}
			status := "yes"
			if !match {
				status = "NO"
				allOK = false
			}
			blobCol := "-"
			if p == platforms[len(platforms)-1] {
				blobCol = fmt.Sprintf("%d/%d", or.blobs, trivyBlobs)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s / %s\t%d/%d\t%d/%d\t%s\t%s\n", img.RepoTag, p, benchkit.OrDash(of.os), benchkit.OrDash(tf.os), len(of.vulns), len(tf.vulns), len(of.secrets), len(tf.secrets), blobCol, status)
			for _, k := range ov1 {
				notes = append(notes, fmt.Sprintf("%s %s: vulnerability only in ours: %s", img.RepoTag, p, k))
			}
			for _, k := range tv1 {
				notes = append(notes, fmt.Sprintf("%s %s: vulnerability only in trivy: %s", img.RepoTag, p, k))
			}
			for _, k := range os1 {
				notes = append(notes, fmt.Sprintf("%s %s: secret only in ours: %s", img.RepoTag, p, k))
			}
			for _, k := range ts1 {
				notes = append(notes, fmt.Sprintf("%s %s: secret only in trivy: %s", img.RepoTag, p, k))
			}
			if of.os != tf.os {
				notes = append(notes, fmt.Sprintf("%s %s: OS ours %q, trivy %q", img.RepoTag, p, of.os, tf.os))
			}
			if match {
				for _, k := range benchkit.SortedKeys(of.vulns) {
					notes = append(notes, fmt.Sprintf("  %-20s %-12s both: %s (%s)", img.RepoTag, p, k, of.details[k]))
				}
				for _, k := range benchkit.SortedKeys(of.secrets) {
					notes = append(notes, fmt.Sprintf("  %-20s %-12s both: secret %s", img.RepoTag, p, k))
				}
			}
		}
	}
	_ = tw.Flush()
	if len(notes) > 0 {
		fmt.Println("\nFindings (\"both\" = found by ours and trivy; anything else is a difference):")
		for _, n := range notes {
			fmt.Println(n)
		}
	}
	return allOK
}

func repoOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// ---------------------------------------------------------------- timing

type sample struct {
	run
	inProcess time.Duration
}

func median(s []sample) sample {
	c := slices.Clone(s)
	sort.Slice(c, func(i, j int) bool { return c[i].wall < c[j].wall })
	return c[len(c)/2]
}

func timing(e *env, repoTag string, reps int) error {
	if reps < 1 {
		reps = 1
	}
	fmt.Printf("\n== Timing: %s, median of %d runs; wall time of the whole process; the database is in place for both\n", repoTag, reps)
	var oursCold, oursWarm, trivyCold, trivyWarm []sample
	for i := 0; i < reps; i++ {
		dir := e.freshCache("time-ours")
		o, r, err := e.ours(repoTag, dir)
		if err != nil {
			return err
		}
		oursCold = append(oursCold, sample{r, o.InProcess})
		if o.Analyses != 1 {
			fmt.Printf("WARNING: ours cold ran %d analyses, want 1\n", o.Analyses)
		}
		o, r, err = e.ours(repoTag, dir)
		if err != nil {
			return err
		}
		oursWarm = append(oursWarm, sample{r, o.InProcess})
		if o.Analyses != 0 {
			fmt.Printf("WARNING: ours warm ran %d analyses, want 0\n", o.Analyses)
		}

		dir = e.freshCache("time-trivy")
		_, r, err = e.trivyScan(repoTag, "", dir)
		if err != nil {
			return err
		}
		trivyCold = append(trivyCold, sample{run: r})
		_, r, err = e.trivyScan(repoTag, "", dir)
		if err != nil {
			return err
		}
		trivyWarm = append(trivyWarm, sample{run: r})
	}
	// Ours with an empty cache directory: the database is downloaded too.
	e.counter++
	empty := filepath.Join(e.work, fmt.Sprintf("cache-%02d-time-ours-nodb", e.counter))
	o, nodb, err := e.ours(repoTag, empty)
	if err != nil {
		return err
	}

	oc, ow, tc, twm := median(oursCold), median(oursWarm), median(trivyCold), median(trivyWarm)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tWALL\tIN-PROCESS\tBLOB GETs\tMANIFEST reqs\tNOTE")
	fmt.Fprintf(tw, "ours cold\t%s\t%s\t%d\t%d\tnew process, empty layer + report cache\n", ms(oc.wall), ms(oc.inProcess), oc.blobs, oc.manifests)
	fmt.Fprintf(tw, "ours warm\t%s\t%s\t%d\t%d\tnew process, same cache dir (report cache)\n", ms(ow.wall), ms(ow.inProcess), ow.blobs, ow.manifests)
	fmt.Fprintf(tw, "trivy cold\t%s\t-\t%d\t%d\tempty fanal cache\n", ms(tc.wall), tc.blobs, tc.manifests)
	fmt.Fprintf(tw, "trivy warm\t%s\t-\t%d\t%d\tsecond invocation, same --cache-dir\n", ms(twm.wall), twm.blobs, twm.manifests)
	fmt.Fprintf(tw, "ours cold, no DB\t%s\t%s\t%d\t%d\tone run, empty cache dir: the database is downloaded too\n", ms(nodb.wall), ms(o.InProcess), nodb.blobs, nodb.manifests)
	_ = tw.Flush()
	fmt.Printf("\nratio ours/trivy (wall): cold %.2f, warm %.2f\n", ratio(oc.wall, tc.wall), ratio(ow.wall, twm.wall))
	fmt.Printf("all runs (ms): ours cold %v, ours warm %v, trivy cold %v, trivy warm %v\n", walls(oursCold), walls(oursWarm), walls(trivyCold), walls(trivyWarm))
	return nil
}

func walls(s []sample) []int64 {
	out := make([]int64, len(s))
	for i, x := range s {
		out[i] = x.wall.Milliseconds()
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
