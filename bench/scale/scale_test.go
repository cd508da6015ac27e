//go:build bench

// Package scale is the fleet-scale benchmark of issue 15, run by
// bench/scale.sh: the built provider under the real terraform CLI, one
// imageguard_policy with a scan block over N images that share a Debian
// base (a dpkg database of 700 packages) and each add an app layer (a
// slice of the Go source tree and npm packages), against a synthetic
// trivy.db the size of the public one, side by side with the trivy CLI
// v0.74.0 over the same images and database. For each N it reports the
// provider processes' peak RSS (VmHWM), the wall time of a cold plan
// (empty layer and report caches; the database already in cache_dir, as
// for the trivy CLI), of a warm plan (nothing changed) and of a plan that
// only pins the same references; then the trivy loop and one `trivy image`
// on the largest image.
package scale

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/bench/internal/benchkit"
	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/exploit/exploittest"
)

var (
	providerDir = flag.String("provider-dir", "../bin/provider", "directory of the built terraform-provider-imageguard")
	trivyBin    = flag.String("trivy", "", "the trivy CLI v0.74.0 (bench/scale.sh builds it); empty skips the trivy runs")
	sizes       = flag.String("n", "20,50,100", "fleet sizes")
	trivyN      = flag.Int("trivy-n", 20, "images in the sequential `trivy image` loop")
	packages    = flag.Int("packages", 700, "packages in the shared Debian base")
	appKiB      = flag.Int("app-kib", 1024, "KiB of Go source in each app layer")
	reps        = flag.Int("reps", 3, "warm and pins-only plans per N (the median is reported)")
	providerEnv = flag.String("provider-env", "", "extra environment for terraform and the provider, e.g. GOGC=50 (comma-separated)")
	exploits    = flag.Bool("exploit", true, "also plan with exploitation data (a KEV catalog and an EPSS file the size of the public ones) and report what it adds to a warm plan")
	kevHits     = flag.Bool("kev-hits", true, "list 1 in 200 of the database's CVEs in KEV, so that the fleet has KEV findings (about 7 an image, each a violation to report); false lists only CVEs the fleet lacks, to measure the lookups alone")
)

const dbRepoTag = "aquasecurity/trivy-db:2"

type fleet struct {
	reg    *acctest.Registry
	refs   []string // by image index
	dbFile string
	// largest is the index of the image with the largest app layer.
	largest int
}

func TestScale(t *testing.T) {
	ns := parseSizes(t, *sizes)
	maxN := slices.Max(append(ns, *trivyN))
	f := buildFleet(t, maxN)
	tf := acctest.NewTerraformRunner(t, "", *providerDir)
	var env []string
	if *providerEnv != "" {
		env = strings.Split(*providerEnv, ",")
	}
	dbInfo, _ := os.Stat(f.dbFile)
	fmt.Printf("fleet: %d images, Debian base of %d packages + app layer of %d KiB Go source and 8 npm packages each\n", maxN, *packages, *appKiB)
	fmt.Printf("database: %s, %d MiB on disk (synthetic, acctest.DefaultSyntheticDB)\n", f.dbFile, dbInfo.Size()>>20)
	fmt.Printf("terraform: %s; provider: %s; extra env: %q\n", tf.Bin, tf.PluginDir, env)
	fmt.Printf("machine: %d CPUs, load %s\n", numCPU(), loadavg())

	type row struct {
		n                  int
		cold, warm, pins   acctest.CLIResult
		warmWall, pinsWall time.Duration
		warmRSS, pinsRSS   int64
		// warmReqs and pinsReqs are the registry requests of the last
		// warm and pins-only plans: manifests, blobs.
		warmReqs, pinsReqs [2]int
		// exploit is the warm plan with exploitation data (issue 21).
		exploit     acctest.CLIResult
		exploitWall time.Duration
		exploitRSS  int64
	}
	var rows []row
	var kevFile, epssFile string
	if *exploits {
		kevFile, epssFile = exploitFeeds(t)
	}
	for _, n := range ns {
		r := row{n: n}
		cache := filepath.Join(t.TempDir(), "cache")
		acctest.InstallTrivyDB(t, f.dbFile, cache, time.Now())
		vars := map[string]any{"images": f.images(n), "cache_dir": cache, "db_repository": f.reg.Ref(dbRepoTag)}
		policyWS := filepath.Join(t.TempDir(), "policy")
		pinsWS := filepath.Join(t.TempDir(), "pins")
		acctest.Workspace(t, "testdata/policy", policyWS, vars)
		acctest.Workspace(t, "testdata/pins", pinsWS, vars)
		exploitWS := filepath.Join(t.TempDir(), "policy-exploit")
		if *exploits {
			evars := map[string]any{"kev_file": kevFile, "epss_file": epssFile}
			for k, v := range vars {
				evars[k] = v
			}
			acctest.Workspace(t, "testdata/policy-exploit", exploitWS, evars)
		}
		var reqs [2]int
		plan := func(ws string) acctest.CLIResult {
			f.reg.ResetRequests()
			defer func() { reqs = [2]int{f.reg.CountManifests(), f.reg.CountBlobs()} }()
			res := tf.Run(ws, acctest.RunOptions{Env: env, WatchProviders: true}, "plan", "-input=false", "-no-color", "-lock=false")
			if !res.OK() {
				t.Fatalf("N=%d: %s", n, benchkit.Tail(res.String(), 4000))
			}
			return res
		}
		r.cold = plan(policyWS)
		checkPlan(t, r.cold, n)
		var warm, pins, withExploits []acctest.CLIResult
		for i := 0; i < *reps; i++ {
			warm = append(warm, plan(policyWS))
			r.warmReqs = reqs
			if *exploits {
				// Interleaved with the plans without, so that load on the
				// machine falls on both alike.
				res := plan(exploitWS)
				checkPlan(t, res, n)
				withExploits = append(withExploits, res)
			}
			pins = append(pins, plan(pinsWS))
			r.pinsReqs = reqs
		}
		r.warm, r.warmWall, r.warmRSS = medianRun(warm)
		r.pins, r.pinsWall, r.pinsRSS = medianRun(pins)
		if *exploits {
			r.exploit, r.exploitWall, r.exploitRSS = medianRun(withExploits)
			fmt.Printf("N=%d: warm with exploitation data %s (%s; provider CPU %s) vs without %s (%s; provider CPU %s): %+.2fs (%+.1f%%)\n", n,
				secs(r.exploitWall), mib(r.exploitRSS), secs(r.exploit.Providers.CPU), secs(r.warmWall), mib(r.warmRSS), secs(r.warm.Providers.CPU),
				(r.exploitWall - r.warmWall).Seconds(), 100*(r.exploitWall.Seconds()/r.warmWall.Seconds()-1))
		}
		fmt.Printf("N=%d: cold %s (peak RSS %s, %d provider processes, provider CPU %s), warm %s (%s; provider CPU %s; %d manifest and %d blob requests), pins only %s (%s; provider CPU %s; %d manifest and %d blob requests); load %s\n", n,
			secs(r.cold.Wall), mib(r.cold.Providers.PeakRSS), r.cold.Providers.Processes, secs(r.cold.Providers.CPU), secs(r.warmWall), mib(r.warmRSS), secs(r.warm.Providers.CPU), r.warmReqs[0], r.warmReqs[1],
			secs(r.pinsWall), mib(r.pinsRSS), secs(r.pins.Providers.CPU), r.pinsReqs[0], r.pinsReqs[1], loadavg())
		rows = append(rows, r)
	}

	var loopWall time.Duration
	var loopRSS, oneRSS int64
	if *trivyBin != "" {
		loopWall, loopRSS = f.trivyLoop(t, *trivyN)
		_, oneRSS = f.trivyLoop(t, -1)
		fmt.Printf("trivy: %d images one after another %s (peak RSS %s); one `trivy image` on the largest image, cold: peak RSS %s; load %s\n",
			*trivyN, secs(loopWall), mib(loopRSS), mib(oneRSS), loadavg())
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tCOLD\tCOLD PEAK RSS\tWARM\tWARM PEAK RSS\tPINS ONLY\tPINS PEAK RSS\tWARM/PINS\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t\n", r.n, secs(r.cold.Wall), mib(r.cold.Providers.PeakRSS), secs(r.warmWall), mib(r.warmRSS), secs(r.pinsWall), mib(r.pinsRSS), r.warmWall.Seconds()/r.pinsWall.Seconds())
	}
	_ = tw.Flush()

	fmt.Println("\ntargets (issue 15):")
	byN := map[int]row{}
	for _, r := range rows {
		byN[r.n] = r
	}
	peak := func(r row) int64 { return max(r.cold.Providers.PeakRSS, r.warmRSS) }
	if a, ok := byN[20]; ok {
		if b, ok := byN[100]; ok {
			ratio := float64(peak(b)) / float64(peak(a))
			fmt.Printf("  peak RSS N=100 / N=20 = %s / %s = %.2f (target <= 1.15): %s\n", mib(peak(b)), mib(peak(a)), ratio, verdict(ratio <= 1.15))
		}
		if oneRSS > 0 {
			ratio := float64(peak(a)) / float64(oneRSS)
			fmt.Printf("  peak RSS N=20 / one trivy image = %s / %s = %.2f (target <= 1.5): %s\n", mib(peak(a)), mib(oneRSS), ratio, verdict(ratio <= 1.5))
		}
		if loopWall > 0 && *trivyN == 20 {
			ratio := a.cold.Wall.Seconds() / loopWall.Seconds()
			fmt.Printf("  cold plan N=20 / trivy loop over 20 = %s / %s = %.2f (target <= 0.7): %s\n", secs(a.cold.Wall), secs(loopWall), ratio, verdict(ratio <= 0.7))
		}
	}
	if r, ok := byN[50]; ok {
		ratio := r.warmWall.Seconds() / r.pinsWall.Seconds()
		fmt.Printf("  warm plan N=50 / pins-only = %s / %s = %.2f (target <= 1.2): %s\n", secs(r.warmWall), secs(r.pinsWall), ratio, verdict(ratio <= 1.2))
	}
	if *exploits {
		for _, r := range rows {
			ratio := r.exploitWall.Seconds() / r.warmWall.Seconds()
			fmt.Printf("  issue 21: warm plan N=%d with / without exploitation data = %s / %s = %.3f (target: no measurable time, <= 1.05): %s; peak RSS %s / %s\n",
				r.n, secs(r.exploitWall), secs(r.warmWall), ratio, verdict(ratio <= 1.05), mib(r.exploitRSS), mib(r.warmRSS))
		}
	}
	fmt.Printf("  load at the end: %s\n", loadavg())
}

// exploitFeeds writes a KEV catalog of 1,500 entries and an EPSS file
// scoring all 300,000 CVEs of the synthetic database (the public feeds
// hold about 1,400 and 290,000), both dated now, in their real formats.
func exploitFeeds(t *testing.T) (kev, epss string) {
	dir := t.TempDir()
	spec := acctest.DefaultSyntheticDB(nil)
	var kevEntries []exploittest.KEVEntry
	var scores []exploittest.EPSSEntry
	for i := 0; i < spec.Vulnerabilities; i++ {
		id := fmt.Sprintf("CVE-%d-%d", 2000+i%26, 10000+i) // the synthetic database's ids
		if i%200 == 0 {
			if !*kevHits {
				id = fmt.Sprintf("CVE-1999-%d", 10000+i) // in no advisory of the database
			}
			kevEntries = append(kevEntries, exploittest.KEVEntry{CVE: id, DateAdded: "2026-11-30", DueDate: "2026-12-21"})
		}
		scores = append(scores, exploittest.EPSSEntry{CVE: fmt.Sprintf("CVE-%d-%d", 2000+i%26, 10000+i), Score: float64(i%1000) / 1000, Percentile: float64(i%997) / 997})
	}
	now := time.Now().UTC()
	kev, epss = filepath.Join(dir, "known_exploited_vulnerabilities.json"), filepath.Join(dir, "epss_scores-current.csv.gz")
	if err := os.WriteFile(kev, exploittest.KEV(now.Add(-time.Hour), kevEntries...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(epss, exploittest.EPSS(now, scores...), 0o600); err != nil {
		t.Fatal(err)
	}
	return kev, epss
}

func buildFleet(t *testing.T, n int) *fleet {
	pkgs := acctest.FleetDebianPackages(*packages)
	f := &fleet{reg: acctest.NewRegistry(t), dbFile: acctest.SyntheticTrivyDB(t, acctest.DefaultSyntheticDB(pkgs))}
	base := acctest.DebianBaseLayer(pkgs)
	var largest int64
	for i := 0; i < n; i++ {
		app := acctest.FleetAppLayer(t, i, *appKiB<<10)
		repoTag := fmt.Sprintf("fleet/app-%03d:1", i)
		f.reg.Push(t, repoTag, acctest.FleetImage(base, app))
		f.refs = append(f.refs, f.reg.Ref(repoTag))
		if sz, err := app.Size(); err == nil && sz > largest {
			largest, f.largest = sz, i
		}
	}
	return f
}

func (f *fleet) images(n int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("app-%03d", i)] = f.refs[i]
	}
	return m
}

// trivyLoop runs `trivy image` on images 0..n-1 one after another with one
// fresh cache (the database installed, layers cached as the loop goes), or
// with n < 0 once on the largest image with a fresh cache. It returns the
// wall time and the largest peak RSS (from the kernel's rusage: exact).
func (f *fleet) trivyLoop(t *testing.T, n int) (time.Duration, int64) {
	cache := filepath.Join(t.TempDir(), "trivy-cache")
	acctest.InstallTrivyDB(t, f.dbFile, cache, time.Now())
	idx := []int{f.largest}
	if n >= 0 {
		idx = nil
		for i := 0; i < n; i++ {
			idx = append(idx, i)
		}
	}
	out := filepath.Join(t.TempDir(), "report.json")
	var peak int64
	start := time.Now()
	for _, i := range idx {
		cmd := exec.Command(*trivyBin, "image", "--cache-dir", cache, "--skip-db-update", "--skip-java-db-update",
			"--scanners", "vuln,secret", "--format", "json", "--quiet", "--output", out,
			"--image-src", "remote", "--skip-version-check", "--disable-telemetry", f.refs[i])
		cmd.Env = append(os.Environ(), "TRIVY_NO_PROGRESS=true")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("trivy image %s: %v\n%s", f.refs[i], err, b)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss<<10)
		}
	}
	return time.Since(start), peak
}

// checkPlan fails unless the plan judged and pinned every image and found
// something.
func checkPlan(t *testing.T, r acctest.CLIResult, n int) {
	if !strings.Contains(r.Stdout, fmt.Sprintf("pinned   = %d", n)) && !strings.Contains(r.Stdout, fmt.Sprintf("pinned = %d", n)) {
		t.Fatalf("N=%d: the plan does not show pinned = %d:\n%s", n, n, benchkit.Tail(r.Stdout, 3000))
	}
	if strings.Contains(r.Stdout, "findings = 0") || strings.Contains(r.Stdout, "findings =  0") {
		t.Fatalf("N=%d: the plan found nothing: the database does not match the fleet", n)
	}
}

func medianRun(rs []acctest.CLIResult) (acctest.CLIResult, time.Duration, int64) {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b acctest.CLIResult) int { return int(a.Wall - b.Wall) })
	var rss int64
	for _, r := range rs {
		rss = max(rss, r.Providers.PeakRSS)
	}
	m := s[len(s)/2]
	return m, m.Wall, rss
}

func parseSizes(t *testing.T, s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("-n %q: want sizes like 20,50,100", s)
		}
		out = append(out, n)
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}
