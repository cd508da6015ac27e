package scan_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/vulndb"
)

// countingDB counts what is asked of the database beyond its freshness
// check (Check): opening it (Ensure) and holding it for a scan (Use).
type countingDB struct {
	*vulndb.Manager
	opened atomic.Int64
}

func (c *countingDB) Ensure(ctx context.Context) (*vulndb.DB, error) {
	c.opened.Add(1)
	return c.Manager.Ensure(ctx)
}

func (c *countingDB) Use(ctx context.Context) (*vulndb.DB, func(), error) {
	c.opened.Add(1)
	return c.Manager.Use(ctx)
}

// platformTargets are the platform images of a reference.
func platformTargets(t *testing.T, client *registry.Client, raw string) []scan.Target {
	t.Helper()
	ctx := context.Background()
	ref, err := client.ParseReference(raw)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := client.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	pms, err := client.Platforms(ctx, resolved, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []scan.Target
	for _, pm := range pms {
		out = append(out, scan.Target{Resolved: resolved, Platform: pm})
	}
	return out
}

// judged is a Result without the report, and the coverage verdict.
type judged struct {
	Result   scan.Result
	Coverage *scan.Coverage
}

func judge(t *testing.T, s *scan.Scanner, tg scan.Target, fromReport bool) judged {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	var res *scan.Result
	var db scan.DBInfo
	var err error
	in := scan.CoverageInput{Image: "img", Digest: tg.Platform.Digest.String()}
	if fromReport {
		var rep *types.Report
		rep, db, err = s.Scan(ctx, tg, scan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		platform := tg.Platform.Platform
		if platform == "" {
			platform = scan.ReportPlatform(rep)
		}
		if res, err = scan.Summarize(ctx, rep, platform, tg.Platform.Digest.String(), nil); err != nil {
			t.Fatal(err)
		}
		in.Report = rep
	} else {
		if res, db, err = s.Result(ctx, tg, scan.Options{}); err != nil {
			t.Fatal(err)
		}
		if res.Report != nil {
			t.Fatal("Result kept Trivy's report")
		}
		in.Result = res
	}
	in.Platform, in.DB = res.Platform, db
	cov, err := s.Coverage(ctx, in, now)
	if err != nil {
		t.Fatal(err)
	}
	out := judged{Result: *res, Coverage: cov}
	out.Result.Report = nil
	return out
}

// Scanner.Result judges what Scan and Summarize judge, for every fixture
// image and platform; a new process over the same cache gets it from the
// summary alone: no analysis, no layer, and the database neither opened
// nor held (only its freshness checked).
func TestResultFromSummaryMatchesReport(t *testing.T) {
	f := newSecretFixture(t)
	client := newClient(t)
	full, compact := t.TempDir(), t.TempDir()
	refs := []string{"alpine/vulnerable:1", "alpine/fixed:1", "debian/app:1", "node/app:1", "secret/app:1", "multi/app:1", "distroless/app:1", "secret/deep:1"}

	fullScanner := scan.New(client, scan.NewLocal(f.manager, full), full)
	cold := scan.NewLocal(f.manager, compact)
	coldScanner := scan.New(client, cold, compact)
	want := map[string]judged{}
	for _, r := range refs {
		for _, tg := range platformTargets(t, client, f.reg.Ref(r)) {
			w := judge(t, fullScanner, tg, true)
			got := judge(t, coldScanner, tg, false)
			w.Result.Findings, got.Result.Findings = nilIfEmpty(w.Result.Findings), nilIfEmpty(got.Result.Findings)
			if !sameJudgement(got, w) {
				t.Fatalf("%s %s: Result differs from the report's summary:\n got %+v\nwant %+v", r, tg.Platform.Platform, got, w)
			}
			want[tg.Platform.Digest.String()] = w
		}
	}
	if err := cold.Close(); err != nil {
		t.Fatal(err)
	}

	seeded, err := f.manager.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	db := &countingDB{Manager: vulndb.NewManager(vulndb.Options{Repositories: []string{f.reg.Ref("aquasecurity/trivy-db:2")}, CacheDir: seeded.CacheDir, RemoteOptions: client.RemoteOptions()})}
	warm := scan.NewLocal(db, compact)
	defer warm.Close()
	warmScanner := scan.New(client, warm, compact)
	f.reg.ResetRequests()
	for _, r := range refs {
		for _, tg := range platformTargets(t, newClient(t), f.reg.Ref(r)) {
			got := judge(t, warmScanner, tg, false)
			w := want[tg.Platform.Digest.String()]
			got.Result.Findings = nilIfEmpty(got.Result.Findings)
			if !sameJudgement(got, w) {
				t.Fatalf("%s %s: cached Result differs:\n got %+v %+v\nwant %+v %+v", r, tg.Platform.Platform, got, got.Coverage, w, w.Coverage)
			}
		}
	}
	if n := warmScanner.Analyses(); n != 0 {
		t.Errorf("warm: %d analyses, want 0", n)
	}
	if n := f.reg.CountBlobs(); n != 0 {
		t.Errorf("warm: %d blob requests, want 0: %v", n, f.reg.Requests())
	}
	if n := db.opened.Load(); n != 0 {
		t.Errorf("warm: the database was opened or held %d times, want 0", n)
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func sameJudgement(a, b judged) bool {
	ca, cb := a.Coverage, b.Coverage
	a.Coverage, b.Coverage = nil, nil
	a.Result = stripUnexported(a.Result)
	b.Result = stripUnexported(b.Result)
	if ca != nil && cb != nil {
		// The database's description names where it came from: a
		// download, or the cache of a later process.
		x, y := *ca, *cb
		x.Database, y.Database = "", ""
		ca, cb = &x, &y
	}
	return reflect.DeepEqual(a, b) && reflect.DeepEqual(ca, cb)
}

// stripUnexported keeps what callers see of a Result.
func stripUnexported(r scan.Result) scan.Result {
	return scan.Result{Platform: r.Platform, Digest: r.Digest, OS: r.OS, OSScanned: r.OSScanned, Targets: nilIfEmpty(r.Targets),
		Findings: nilIfEmpty(r.Findings), Secrets: nilIfEmpty(r.Secrets), Suppressed: nilIfEmpty(r.Suppressed), Packages: nilIfEmpty(r.Packages)}
}

// A cached summary is trusted as a cached report is: a summary of a passing
// image planted under a failing image's key is refused; a corrupt one is a
// miss, scanned again from the layer cache (no layer downloaded); a cache
// with reports but no summaries (an older provider's) is summarised once
// without running Trivy again.
func TestCachedSummaryTrust(t *testing.T) {
	f := newSecretFixture(t)
	client := newClient(t)
	passing := platformTargets(t, client, f.reg.Ref("alpine/fixed:1"))[0]
	failing := platformTargets(t, client, f.reg.Ref("alpine/vulnerable:1"))[0]
	// fill caches both images' summaries (Result) or reports (Scan).
	fill := func(t *testing.T, reports bool) string {
		dir := t.TempDir()
		l := scan.NewLocal(f.manager, dir)
		defer l.Close()
		s := scan.New(client, l, dir)
		for _, tg := range []scan.Target{passing, failing} {
			var err error
			if reports {
				_, _, err = s.Scan(context.Background(), tg, scan.Options{})
			} else {
				_, _, err = s.Result(context.Background(), tg, scan.Options{})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "reports")); reports != (err == nil) {
			t.Fatalf("reports cached: %v, want %v", err == nil, reports)
		}
		return dir
	}
	summaryOf := func(t *testing.T, dir string, tg scan.Target) string {
		t.Helper()
		var found string
		_ = filepath.WalkDir(filepath.Join(dir, "summaries"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				if strings.Contains(string(b), tg.Platform.Digest.String()) {
					found = p
				}
			}
			return nil
		})
		if found == "" {
			t.Fatalf("no summary for %s", tg.Platform.Digest)
		}
		return found
	}
	again := func(t *testing.T, dir string) (*scan.Result, *scan.Scanner, error) {
		l := scan.NewLocal(f.manager, dir)
		t.Cleanup(func() { _ = l.Close() })
		s := scan.New(client, l, dir)
		res, _, err := s.Result(context.Background(), failing, scan.Options{})
		return res, s, err
	}

	t.Run("planted under another key → not trusted", func(t *testing.T) {
		dir := fill(t, false)
		b, err := os.ReadFile(summaryOf(t, dir, passing))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(summaryOf(t, dir, failing), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := again(t, dir); err == nil || !strings.Contains(err.Error(), "records the key") {
			t.Fatalf("err = %v, want a refusal naming the key", err)
		}
	})
	t.Run("corrupt → scanned again from the layer cache", func(t *testing.T) {
		dir := fill(t, false)
		if err := os.WriteFile(summaryOf(t, dir, failing), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		f.reg.ResetRequests()
		res, s, err := again(t, dir)
		if err != nil || len(res.Findings) == 0 || s.Analyses() != 1 || f.reg.CountBlobs() != 0 {
			t.Fatalf("err %v, %d findings, %d analyses, %d blobs: want the findings from one analysis of cached layers", err, len(res.Findings), s.Analyses(), f.reg.CountBlobs())
		}
	})
	t.Run("reports without summaries → summarised once", func(t *testing.T) {
		dir := fill(t, true)
		if err := os.RemoveAll(filepath.Join(dir, "summaries")); err != nil {
			t.Fatal(err)
		}
		res, s, err := again(t, dir)
		if err != nil || len(res.Findings) == 0 || s.Analyses() != 0 {
			t.Fatalf("err %v, %d findings, %d analyses: want the report's findings without an analysis", err, len(res.Findings), s.Analyses())
		}
		summaryOf(t, dir, failing)
	})
}

// Callers that want the report (Scan) and callers that want the summary
// (Result) of the same image at the same time each get theirs, whether the
// image is scanned, or its report or summary alone is cached.
func TestConcurrentScanAndResult(t *testing.T) {
	f := newSecretFixture(t)
	client := newClient(t)
	tg := platformTargets(t, client, f.reg.Ref("alpine/vulnerable:1"))[0]
	for _, cached := range []string{"nothing", "report", "summary"} {
		t.Run(cached+" cached", func(t *testing.T) {
			dir := t.TempDir()
			if cached != "nothing" {
				l := scan.NewLocal(f.manager, dir)
				s := scan.New(client, l, dir)
				var err error
				if cached == "report" {
					_, _, err = s.Scan(context.Background(), tg, scan.Options{})
					_ = os.RemoveAll(filepath.Join(dir, "summaries"))
				} else {
					_, _, err = s.Result(context.Background(), tg, scan.Options{})
				}
				if err != nil {
					t.Fatal(err)
				}
				_ = l.Close()
			}
			l := scan.NewLocal(f.manager, dir)
			defer l.Close()
			s := scan.New(client, l, dir)
			const callers = 8
			errs := make(chan error, callers)
			for i := 0; i < callers; i++ {
				go func() {
					if i%2 == 0 {
						rep, _, err := s.Scan(context.Background(), tg, scan.Options{})
						if err == nil && (rep == nil || len(rep.Results) == 0) {
							err = errors.New("Scan returned no report")
						}
						errs <- err
						return
					}
					res, _, err := s.Result(context.Background(), tg, scan.Options{})
					if err == nil && (res == nil || len(res.Findings) == 0) {
						err = errors.New("Result returned no findings")
					}
					errs <- err
				}()
			}
			for i := 0; i < callers; i++ {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
