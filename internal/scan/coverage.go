package scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/bucket"
	"github.com/aquasecurity/trivy/pkg/clock"
	ospkgDetector "github.com/aquasecurity/trivy/pkg/detector/ospkg"
	osver "github.com/aquasecurity/trivy/pkg/detector/ospkg/version"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"
	bolt "go.etcd.io/bbolt"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// Coverage is the policy layer's type: whether the database covers the OS
// of one platform image.
type Coverage = policy.Coverage

// releaseBuckets names, per OS family whose advisories trivy-db keeps per
// release, the bucket Trivy v0.74.0's detector reads for a release (each
// detector cuts the release the same way: alpine 3.23.2 → "alpine 3.23",
// debian 12.8 → "debian 12"). Families not listed (Red Hat and CentOS
// through CPEs, rolling distributions such as Wolfi) have no per-release
// data to miss; for them Trivy having a detector is the coverage.
var releaseBuckets = map[ftypes.OSType]func(release string) string{
	ftypes.Alpine:     func(r string) string { return bucket.NewAlpine(osver.Minor(r)).Name() },
	ftypes.Debian:     func(r string) string { return bucket.NewDebian(osver.Major(r)).Name() },
	ftypes.Ubuntu:     func(r string) string { return bucket.NewUbuntu(r).Name() },
	ftypes.Alma:       func(r string) string { return bucket.NewAlma(osver.Major(r)).Name() },
	ftypes.Rocky:      func(r string) string { return bucket.NewRocky(osver.Major(r)).Name() },
	ftypes.Oracle:     func(r string) string { return bucket.NewOracle(osver.Major(r)).Name() },
	ftypes.Amazon:     func(r string) string { return bucket.NewAmazon(amazonRelease(r)).Name() },
	ftypes.Azure:      func(r string) string { return bucket.NewAzureLinux(osver.Minor(r)).Name() },
	ftypes.CBLMariner: func(r string) string { return bucket.NewMariner(osver.Minor(r)).Name() },
	ftypes.Photon:     func(r string) string { return bucket.NewPhoton(r).Name() },
}

// eolListed are the families whose Trivy detector has an end-of-life date
// for every release it knows; a server's coverage is judged by that list.
var eolListed = map[ftypes.OSType]bool{
	ftypes.Alpine: true, ftypes.Debian: true, ftypes.Ubuntu: true, ftypes.Alma: true,
	ftypes.Rocky: true, ftypes.Oracle: true, ftypes.Amazon: true, ftypes.Photon: true,
}

// amazonRelease cuts "2 (Karoo)" or "2023.6" as Trivy's Amazon detector does.
func amazonRelease(r string) string {
	f := strings.Fields(r)
	if len(f) == 0 {
		return "1"
	}
	v := osver.Major(f[0])
	if v != "2" && v != "2022" && v != "2023" {
		return "1"
	}
	return v
}

// bucketIndex is a back end that can look into its database.
type bucketIndex interface {
	hasBucket(ctx context.Context, name string) (bool, error)
}

// CoverageInput names the platform image a report is for.
type CoverageInput struct {
	Image    string
	Platform string
	Digest   string
	// Report is Trivy's report; when nil, Result (from Scanner.Result)
	// says what Coverage needs.
	Report  *types.Report
	Result  *Result
	Options Options
	DB      DBInfo
}

// releaseBucket names the advisory bucket Trivy's detector reads for the
// OS, when its family keeps advisories per release.
func releaseBucket(os *ftypes.OS) (string, bool) {
	if os == nil || os.Family == "" || os.Supplier != "" {
		return "", false
	}
	name, ok := releaseBuckets[os.Family]
	if !ok {
		return "", false
	}
	release := os.Name
	if os.Extended {
		release += "-ESM" // as Trivy's OS package scanner asks its detector
	}
	return name(release), true
}

// Coverage says whether the database covers the OS Trivy detected in the
// report, and whether that OS release is past its end of life at now. It
// is nil when no OS was detected, or when OS packages were not scanned for
// vulnerabilities (`scanners` or `pkg_types` leave them out).
func (s *Scanner) Coverage(ctx context.Context, in CoverageInput, now time.Time) (*Coverage, error) {
	opts := in.Options.normalized()
	if !slices.Contains(opts.Scanners, ScannerVuln) || !slices.Contains(opts.PkgTypes, PkgTypeOS) {
		return nil, nil
	}
	var facts coverageFacts
	switch {
	case in.Report != nil:
		facts = coverageFactsOf(in.Report)
	case in.Result != nil && in.Result.coverage != nil:
		facts = *in.Result.coverage
	default:
		return nil, errors.New("no report to judge coverage by")
	}
	meta := facts.OS
	if meta == nil || meta.Family == "" || !meta.Family.HasOSPackages() {
		return nil, nil
	}
	os := *meta
	c := &Coverage{Image: in.Image, Platform: in.Platform, Digest: in.Digest, Family: string(os.Family), Release: os.Name, Database: describeDB(in.DB)}
	// The cached report says what Trivy thought when it scanned; time only
	// moves on, so either saying end of life is enough.
	c.EOSL = os.Eosl || pastEndOfLife(ctx, os, now)
	c.NoPackages = facts.Detected && facts.OSPackages == 0

	_, perRelease := releaseBuckets[os.Family]
	switch {
	case !facts.Detected:
		c.Unsupported = fmt.Sprintf("Trivy %s has no vulnerability detector for %s", TrivyVersion, os.Family)
	case os.Supplier != "" || !perRelease:
		c.Supported = true
	default:
		b, _ := releaseBucket(&os)
		if facts.Asked && facts.Bucket == b {
			// Asked when the report was made, of the database its key names.
			c.Supported = facts.HasBucket
			c.Unsupported = fmt.Sprintf("the database has no %q advisories", b)
			break
		}
		if idx, ok := s.backend.(bucketIndex); ok {
			has, err := idx.hasBucket(ctx, b)
			if err != nil {
				return nil, fmt.Errorf("checking whether the vulnerability database covers %s: %w", c.OS(), err)
			}
			c.Supported = has
			c.Unsupported = fmt.Sprintf("the database has no %q advisories", b)
			break
		}
		// A server's database cannot be asked; a release Trivy has no
		// end-of-life date for is one its data cannot be trusted to cover.
		c.Supported = !eolListed[os.Family] || knownRelease(ctx, os)
		c.Unsupported = fmt.Sprintf("Trivy %s does not know this release (the scanner server's database cannot be queried for %q, and the release is not on Trivy's list of %s releases)", TrivyVersion, b, os.Family)
	}
	if c.Supported {
		c.Unsupported = ""
	}
	return c, nil
}

// pastEndOfLife asks Trivy's detector for the family whether the release is
// past its end of life at now. An OS Trivy has no detector for is not
// judged here (it is not covered at all).
func pastEndOfLife(ctx context.Context, os ftypes.OS, now time.Time) bool {
	eosl, err := detectorEOSL(clock.With(ctx, now), os)
	return err == nil && eosl
}

// knownRelease reports whether the release has an end-of-life date in
// Trivy's detector: at the end of time every listed release is past it,
// and an unlisted one counts as supported.
func knownRelease(ctx context.Context, os ftypes.OS) bool {
	eosl, err := detectorEOSL(clock.With(ctx, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), os)
	return err == nil && eosl
}

// detectorEOSL runs Trivy's detector for the OS over no packages: it reads
// no advisories and returns only the end-of-life verdict at ctx's clock.
func detectorEOSL(ctx context.Context, os ftypes.OS) (bool, error) {
	if os.Extended {
		os.Name += "-ESM"
	}
	d, err := ospkgDetector.NewDetector(types.ScanTarget{OS: os})
	if err != nil {
		return false, err
	}
	_, eosl, err := d.Detect(ctx)
	return eosl, err
}

func describeDB(d DBInfo) string {
	if d.UpdatedAt.IsZero() {
		return ""
	}
	s := fmt.Sprintf("version %d, updated %s", d.SchemaVersion, d.UpdatedAt.UTC().Format(time.RFC3339))
	if d.Source != "" {
		s += ", from " + d.Source
	}
	return s
}

// hasBucket looks for an advisory bucket in the local database, holding
// trivy-db's handle so that it is the database the scan used.
func (l *Local) hasBucket(ctx context.Context, name string) (bool, error) {
	_, release, err := l.db.Use(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	conn := db.Config{}.Connection()
	if conn == nil {
		return false, errors.New("the vulnerability database is not open")
	}
	var has bool
	err = conn.View(func(tx *bolt.Tx) error {
		has = tx.Bucket([]byte(name)) != nil
		return nil
	})
	return has, err
}
