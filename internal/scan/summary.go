package scan

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
)

// A report is reduced to a summary as soon as it is made: what the gates
// judge (findings, secrets, packages, targets) and what coverage needs (the
// OS Trivy detected, and whether the database has advisories for it). The
// summary is cached on disk beside the report, so a plan whose reports are
// all cached reads one small file per platform image: no Trivy, no
// database opened, no full report decoded. Nothing of either is kept in
// memory once the caller has it: memory does not grow with the number of
// images judged in a process.

// summary is one platform image's report reduced to what is judged. Its
// Result carries no platform (filled in by the caller's label) and no
// report.
type summary struct {
	// ConfigPlatform is os/arch[/variant] from the image config.
	ConfigPlatform string
	Result         summaryResult
	Coverage       coverageFacts
}

// summaryResult is Result without what depends on the caller.
type summaryResult struct {
	OS         string         `json:",omitempty"`
	OSScanned  bool           `json:",omitempty"`
	Targets    []string       `json:",omitempty"`
	Findings   packedFindings `json:",omitempty"`
	Secrets    []Secret       `json:",omitempty"`
	Suppressed []Suppressed   `json:",omitempty"`
	Packages   packedPackages `json:",omitempty"`
}

// coverageFacts are what Coverage needs of a report.
type coverageFacts struct {
	OS *ftypes.OS `json:",omitempty"`
	// Detected is true when Trivy ran an OS package detector.
	Detected bool `json:",omitempty"`
	// Bucket names the advisory bucket the local database was asked
	// for when the report was made, and HasBucket its answer. Asked is
	// false when nothing was asked (a server's database cannot be).
	Bucket    string `json:",omitempty"`
	HasBucket bool   `json:",omitempty"`
	Asked     bool   `json:",omitempty"`
	// OSPackages counts the OS packages found: none on a detected OS means
	// a package database that is missing or empty.
	OSPackages int `json:",omitempty"`
}

func coverageFactsOf(r *types.Report) coverageFacts {
	f := coverageFacts{OS: r.Metadata.OS}
	for _, res := range r.Results {
		if res.Class == types.ClassOSPkg {
			f.Detected = true
			f.OSPackages += len(res.Packages)
		}
	}
	return f
}

// summarize reduces a (scrubbed) report; owned says the caller gives it
// up, so that it is reduced in place rather than copied first. It asks the
// local database, which just answered the scan, whether it has advisories
// for the detected OS, so that a cached summary never needs the database.
func (s *Scanner) summarize(ctx context.Context, r *types.Report, digest string, owned bool) (*summary, error) {
	sum := &summary{ConfigPlatform: ReportPlatform(r), Coverage: coverageFactsOf(r)}
	var res *Result
	var err error
	if owned {
		res, err = summarizeInPlace(ctx, r, "", digest)
	} else {
		res, err = Summarize(ctx, r, "", digest, nil)
	}
	if err != nil {
		return nil, err
	}
	sum.Result = summaryResult{
		OS: res.OS, OSScanned: res.OSScanned, Targets: res.Targets, Findings: res.Findings, Secrets: res.Secrets, Suppressed: res.Suppressed, Packages: res.Packages}
	if b, ok := releaseBucket(sum.Coverage.OS); ok && sum.Coverage.Detected {
		if idx, ok := s.backend.(bucketIndex); ok {
			has, err := idx.hasBucket(ctx, b)
			if err != nil {
				return nil, fmt.Errorf("checking whether the vulnerability database covers %s: %w", b, err)
			}
			sum.Coverage.Bucket, sum.Coverage.HasBucket, sum.Coverage.Asked = b, has, true
		}
	}
	return sum, nil
}

// result is the summary as a Result for the platform labelled platform
// (the config's when empty). own says the caller is the summary's only
// user: its slices are handed over rather than copied.
func (sum *summary) result(platform, digest string, own bool) *Result {
	if platform == "" {
		platform = sum.ConfigPlatform
	}
	r := &Result{Platform: platform, Digest: digest, OS: sum.Result.OS, OSScanned: sum.Result.OSScanned,
		Targets: sum.Result.Targets, Findings: sum.Result.Findings, Secrets: sum.Result.Secrets,
		Suppressed: sum.Result.Suppressed, Packages: sum.Result.Packages, coverage: &sum.Coverage,
	}
	if !own {
		r.Targets, r.Findings, r.Secrets = slices.Clone(r.Targets), slices.Clone(r.Findings), slices.Clone(r.Secrets)
		r.Suppressed, r.Packages = slices.Clone(r.Suppressed), slices.Clone(r.Packages)
	}
	for i := range r.Findings {
		r.Findings[i].Platform = platform
	}
	for i := range r.Secrets {
		r.Secrets[i].Platform = platform
	}
	for i := range r.Suppressed {
		r.Suppressed[i].Platform = platform
	}
	return r
}

// Result returns what the gates judge of one platform image (findings,
// secrets, packages, targets and what Coverage needs), without Trivy's
// report: from the report cache when the digest was scanned with the same
// database and options (one small file read; the database is not opened),
// else by scanning. The platform is t.Platform.Platform, or the image
// config's when that is empty. VEX needs the report: use Scan and
// Summarize for it.
func (s *Scanner) Result(ctx context.Context, t Target, opts Options) (*Result, DBInfo, error) {
	f, err := s.flight(ctx, t, opts, false)
	if err != nil {
		return nil, f.db, err
	}
	return f.summary.result(t.Platform.Platform, t.Platform.Digest.String(), f.own), f.db, nil
}

func (s *Scanner) summaryPath(key string) string {
	return filepath.Join(s.cacheDir, "summaries", key[:2], key+".json")
}

// diskSummary is a cached summary with what it was made from, trusted only
// under its own key, as diskReport.
type diskSummary struct {
	cacheEntry
	Summary summary
}

func (d *diskSummary) entry() cacheEntry { return d.cacheEntry }

// maxSummarySize bounds a cached summary read from disk.
const maxSummarySize = 64 << 20

// readSummary returns the cached summary for key, nil on a miss, or an
// error for a file that must not be trusted.
func (s *Scanner) readSummary(key, digest string, db DBInfo, opts Options) (*summary, error) {
	if s.cacheDir == "" {
		return nil, nil
	}
	d, err := readCacheFile[diskSummary](s.summaryPath(key), maxSummarySize, newCacheEntry(key, digest, db, opts))
	if d == nil || err != nil {
		return nil, err
	}
	return &d.Summary, nil
}

// writeSummary caches a summary under the key of the database that
// answered. Failing to cache is never an error.
func (s *Scanner) writeSummary(digest string, db DBInfo, opts Options, sum *summary) {
	if s.cacheDir == "" {
		return
	}
	key := cacheKey(digest, db, opts)
	writeCacheFile(s.summaryPath(key), ".summary-*", diskSummary{cacheEntry: newCacheEntry(key, digest, db, opts), Summary: *sum})
}

// writeCacheFile writes v as JSON to p atomically (a temporary file
// renamed) in trusted directories, streamed: a large report is never held
// encoded in memory. Failing to cache is never an error.
func writeCacheFile(p, pattern string, v any) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	if checkSubdir(filepath.Dir(filepath.Dir(p))) != nil || checkSubdir(filepath.Dir(p)) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), pattern)
	if err != nil {
		return
	}
	w := bufio.NewWriterSize(tmp, 256<<10)
	werr := json.NewEncoder(w).Encode(v)
	if werr == nil {
		werr = w.Flush()
	}
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	_ = os.Rename(tmp.Name(), p)
}

// flight is one platform image's scan in this process: concurrent callers
// for the same key share it; nothing is kept once it is over (the disk
// cache serves later callers).
type flight struct {
	done    chan struct{}
	report  *types.Report // when the flight read or made it
	summary *summary
	db      DBInfo
	err     error
	// waiters counts the callers that joined; own, in what the caller
	// that made the flight gets back, says none did.
	waiters int
	own     bool
}

// flight returns the report (needReport) or the summary of one platform
// image: from a flight under way for the same key and kind, the disk
// cache, or a scan. Callers wanting a report and callers wanting a summary
// fly apart: one kind served from its cache file has nothing for the
// other (only a caller that needs a report, VEX or a signed predicate,
// runs Trivy a second time for a cached image, from the layer cache).
func (s *Scanner) flight(ctx context.Context, t Target, opts Options, needReport bool) (*flight, error) {
	opts = opts.normalized()
	db, err := s.backend.DB(ctx)
	if err != nil {
		return &flight{}, err
	}
	digest := t.Platform.Digest.String()
	key := cacheKey(digest, db, opts)
	kind := key + "|summary"
	if needReport {
		kind = key + "|report"
	}

	s.mu.Lock()
	if f, ok := s.inflight[kind]; ok {
		f.waiters++
		s.mu.Unlock()
		<-f.done
		if f.err != nil {
			return &flight{db: db}, f.err
		}
		return f, nil
	}
	f := &flight{done: make(chan struct{})}
	s.inflight[kind] = f
	s.mu.Unlock()

	f.report, f.summary, f.db, f.err = s.scanUncached(ctx, t, opts, key, db, needReport)
	s.mu.Lock()
	delete(s.inflight, kind)
	alone := f.waiters == 0 // and none can join now
	s.mu.Unlock()
	close(f.done)
	if f.err != nil {
		return &flight{db: db}, f.err
	}
	if alone {
		mine := *f
		mine.own = true
		return &mine, nil
	}
	return f, nil
}

// scanUncached serves one platform image from the disk cache (the summary,
// or the report when needReport) or scans it. A report it makes is
// returned with its summary.
func (s *Scanner) scanUncached(ctx context.Context, t Target, opts Options, key string, db DBInfo, needReport bool) (*types.Report, *summary, DBInfo, error) {
	if s.cacheDir != "" {
		s.dirOnce.Do(func() { s.dirErr = PrepareCacheDir(s.cacheDir) })
		if s.dirErr != nil {
			return nil, nil, DBInfo{}, s.dirErr
		}
	}
	digest := t.Platform.Digest.String()
	fields := map[string]any{"repository": t.Resolved.Ref.Repository.Name(), "digest": digest, "platform": t.Platform.Platform, "db_updated_at": db.UpdatedAt.UTC().Format(time.RFC3339)}
	if !needReport {
		sum, err := s.readSummary(key, digest, db, opts)
		if err != nil {
			return nil, nil, DBInfo{}, err
		}
		if sum != nil {
			fields["cache"] = "disk"
			tflog.SubsystemDebug(ctx, LogSubsystem, "platform served from the report cache", fields)
			return nil, sum, db, nil
		}
	}
	r, err := s.readDisk(key, digest, db, opts)
	if err != nil {
		return nil, nil, DBInfo{}, err
	}
	if r != nil {
		fields["cache"] = "disk"
		tflog.SubsystemDebug(ctx, LogSubsystem, "platform served from the report cache", fields)
		if needReport {
			return r, nil, db, nil
		}
		// A report cached before summaries were: summarise it once.
		sum, err := s.summarize(ctx, r, digest, true)
		if err != nil {
			return nil, nil, DBInfo{}, err
		}
		s.writeSummary(digest, db, opts, sum)
		return nil, sum, db, nil
	}
	start := time.Now()
	report, answered, err := s.analyse(ctx, t, opts)
	fields["duration_ms"] = time.Since(start).Milliseconds()
	if err != nil {
		fields["error"] = err.Error()
		tflog.SubsystemDebug(ctx, LogSubsystem, "platform scan failed", fields)
		return nil, nil, DBInfo{}, err
	}
	tflog.SubsystemDebug(ctx, LogSubsystem, "platform scanned", fields)
	scrubReport(&report)
	if !answered.mixed && needReport {
		// Under the key of the database that answered (a server may have
		// updated its own since this flight's key was made). Only for a
		// caller that needs the report (VEX, a signed predicate): encoding
		// a large report costs a good part of the scan, and the summary
		// serves every other gate. A later caller that needs it scans
		// again from the layer cache (no layer is downloaded again).
		s.writeDisk(digest, answered, opts, &report)
	}
	// Reduced at once; in place unless the caller wants the report.
	sum, err := s.summarize(ctx, &report, digest, !needReport)
	if err != nil {
		return nil, nil, DBInfo{}, err
	}
	if !answered.mixed {
		s.writeSummary(digest, answered, opts, sum)
	}
	if !needReport {
		return nil, sum, answered, nil
	}
	return &report, sum, answered, nil
}
