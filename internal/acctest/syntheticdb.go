package acctest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	bolt "go.etcd.io/bbolt"
)

// SyntheticDBSpec sizes SyntheticTrivyDB. The public trivy-db (schema 2)
// is about 900 MB on disk: some 300,000 vulnerability records and a few
// million advisories over about a hundred buckets.
type SyntheticDBSpec struct {
	// Base are the packages whose source packages get "debian 12"
	// advisories (fixed after, fixed before and not fixed in the installed
	// version), as a real base image's do.
	Base []DebPackage
	// Vulnerabilities is the number of vulnerability records (the
	// "vulnerability" bucket: title, description, CVSS, references).
	Vulnerabilities int
	// Packages is the number of other packages per advisory bucket.
	Packages int
}

// DefaultSyntheticDB is the benchmarks' database: close to the public
// trivy-db's size on disk.
func DefaultSyntheticDB(base []DebPackage) SyntheticDBSpec {
	return SyntheticDBSpec{Base: base, Vulnerabilities: 300_000, Packages: 12_000}
}

// syntheticDBVersion changes when the generator does: it is part of the
// cache key.
const syntheticDBVersion = 2

// advisoryBuckets are the buckets filled with generated packages, with the
// shape of their advisories.
var advisoryBuckets = []struct {
	name, id, source string
	lang             bool
}{
	{"alpine 3.20", "alpine", "Alpine Secdb", false},
	{"alpine 3.21", "alpine", "Alpine Secdb", false},
	{"alpine 3.22", "alpine", "Alpine Secdb", false},
	{"alpine 3.23", "alpine", "Alpine Secdb", false},
	{"debian 11", "debian", "Debian Security Tracker", false},
	{"debian 12", "debian", "Debian Security Tracker", false},
	{"debian 13", "debian", "Debian Security Tracker", false},
	{"ubuntu 20.04", "ubuntu", "Ubuntu CVE Tracker", false},
	{"ubuntu 22.04", "ubuntu", "Ubuntu CVE Tracker", false},
	{"ubuntu 24.04", "ubuntu", "Ubuntu CVE Tracker", false},
	{"Red Hat", "redhat", "Red Hat OVAL v2", false},
	{"amazon linux 2", "amazon", "Amazon Linux Security Center", false},
	{"amazon linux 2023", "amazon", "Amazon Linux Security Center", false},
	{"rocky 9", "rocky", "Rocky Linux updateinfo", false},
	{"npm::GitHub Security Advisory npm", "ghsa", "GitHub Security Advisory npm", true},
	{"pip::GitHub Security Advisory pip", "ghsa", "GitHub Security Advisory pip", true},
	{"go::GitHub Security Advisory Go", "ghsa", "GitHub Security Advisory Go", true},
	{"maven::GitHub Security Advisory Maven", "ghsa", "GitHub Security Advisory Maven", true},
	{"rubygems::GitHub Security Advisory RubyGems", "ghsa", "GitHub Security Advisory RubyGems", true},
	{"cargo::GitHub Security Advisory Rust", "ghsa", "GitHub Security Advisory Rust", true},
	{"composer::GitHub Security Advisory Composer", "ghsa", "GitHub Security Advisory Composer", true},
	{"nuget::GitHub Security Advisory NuGet", "ghsa", "GitHub Security Advisory NuGet", true},
}

// words make the generated descriptions read like advisories and compress
// like them.
var words = strings.Fields(`a an the in of to and or for with via when by on from before after allows attacker remote local
user crafted request file buffer overflow heap stack use-after-free out-of-bounds read write integer underflow null pointer
dereference denial service memory corruption information disclosure privilege escalation arbitrary code execution cross-site
scripting injection command sql path traversal authentication bypass certificate validation timing side-channel race condition
parser decoder encoder library function component module handler header cookie session token key signature archive image font
compressed stream network packet protocol server client daemon kernel driver interface configuration default option version
versions prior through affected fixed vulnerability issue flaw could might leads causes results unexpected behavior crash hang
resource exhaustion infinite loop recursion limit length check missing improper incorrect insufficient validation sanitization
escaping handling processing calculation allocation deallocation free double invalid malformed untrusted input data value size
offset index pointer reference object string character encoding unicode utf-8 regex regular expression xml json yaml html http
tls ssl dns smtp ftp ssh ldap kerberos oauth saml jwt`)

var severities = []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}

// severity draws 1 (LOW) to 4 (CRITICAL) as Debian rates its advisories:
// most LOW, few CRITICAL (55%, 28%, 14%, 3%).
func severity(rng *rand.Rand) int {
	switch x := rng.IntN(100); {
	case x < 55:
		return 1
	case x < 83:
		return 2
	case x < 97:
		return 3
	}
	return 4
}

// SyntheticTrivyDB returns the path of a trivy.db generated from spec
// (trivy-db's layout and value shapes, deterministic), built once and kept
// under $HOME/.cache/imageguard-bench (IMAGEGUARD_BENCH_CACHE overrides)
// for later runs. Install it into a cache directory with InstallTrivyDB.
func SyntheticTrivyDB(tb testing.TB, spec SyntheticDBSpec) string {
	tb.Helper()
	key := syntheticKey(spec)
	dir := filepath.Join(benchCacheDir(tb), "trivy-db-synthetic-"+key)
	p := trivydb.Path(dir)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		tb.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".trivy-db-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if err := writeSyntheticDB(trivydb.Path(tmp), spec); err != nil {
		tb.Fatalf("generating the synthetic trivy.db: %v", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Stat(p); serr != nil {
			tb.Fatal(err)
		}
	}
	if fi, err := os.Stat(p); err == nil {
		tb.Logf("generated %s (%d MiB) in %s", p, fi.Size()>>20, time.Since(start).Round(time.Second))
	}
	return p
}

func benchCacheDir(tb testing.TB) string {
	if d := os.Getenv("IMAGEGUARD_BENCH_CACHE"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		tb.Fatalf("no cache directory for the benchmark fixtures (%v): set IMAGEGUARD_BENCH_CACHE", err)
	}
	return filepath.Join(base, "imageguard-bench")
}

func syntheticKey(spec SyntheticDBSpec) string {
	h := sha256.New()
	fmt.Fprintf(h, "v%d|%d|%d|", syntheticDBVersion, spec.Vulnerabilities, spec.Packages)
	for _, p := range spec.Base {
		fmt.Fprintf(h, "%s %s %s|", p.Name, p.Source, p.Version)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// InstallTrivyDB puts the database at dbFile into cacheDir/db, as the
// provider and the trivy CLI keep it: trivy.db (a hard link when possible,
// else a copy) and a metadata.json saying it was updated an hour ago.
func InstallTrivyDB(tb testing.TB, dbFile, cacheDir string, now time.Time) string {
	tb.Helper()
	dir := filepath.Join(cacheDir, "db")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	dst := trivydb.Path(dir)
	_ = os.Remove(dst)
	if err := os.Link(dbFile, dst); err != nil {
		if err := copyFile(dbFile, dst); err != nil {
			tb.Fatal(err)
		}
	}
	meta := FreshDBMeta(now)
	if err := metadata.NewClient(dir).Update(metadata.Metadata{Version: trivydb.SchemaVersion, UpdatedAt: meta.UpdatedAt, NextUpdate: meta.NextUpdate, DownloadedAt: now.UTC()}); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// advisory is one advisory to write: bucket / package / vulnerability.
type advisory struct {
	pkg, id string
	value   []byte
}

func writeSyntheticDB(path string, spec SyntheticDBSpec) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(0x7269, uint64(spec.Vulnerabilities)))
	ids := make([]string, spec.Vulnerabilities)
	for i := range ids {
		ids[i] = fmt.Sprintf("CVE-%d-%d", 2000+i%26, 10000+i)
	}
	pick := func() string { return ids[rng.IntN(len(ids))] }

	// The base's source packages, about three advisories each as in a real
	// base (some many more): every third advisory fixed after the installed
	// version (a finding), every third not fixed (a finding), the rest
	// fixed before it (no finding). A base of 700 packages gets about 1,400
	// findings, as `trivy image` reports for a Debian 12 language runtime.
	srcVersion := map[string]string{}
	for _, p := range spec.Base {
		srcVersion[p.Source] = p.Version
	}
	sources := make([]string, 0, len(srcVersion))
	for s := range srcVersion {
		sources = append(sources, s)
	}
	sort.Strings(sources)
	var base []advisory
	for i, s := range sources {
		n := rng.IntN(5)
		if i%5 == 0 {
			n += 5
		}
		for k := 0; k < n; k++ {
			var v any
			switch k % 3 {
			case 0:
				v = map[string]any{"FixedVersion": bumpDebian(srcVersion[s])}
			case 1:
				v = map[string]any{"Status": []int{2, 5, 6}[rng.IntN(3)], "Severity": severity(rng)}
			default:
				v = map[string]any{"FixedVersion": "0.0.1-1"}
			}
			b, _ := json.Marshal(v)
			base = append(base, advisory{pkg: s, id: pick(), value: b})
		}
	}

	for _, bk := range advisoryBuckets {
		var advs []advisory
		if bk.name == "debian 12" {
			advs = append(advs, base...)
		}
		if bk.name == "npm::GitHub Security Advisory npm" {
			for _, a := range [][3]string{{"lodash", "CVE-2021-23337", "4.17.21"}, {"minimist", "CVE-2021-44906", "1.2.6"}, {"qs", "CVE-2022-24999", "6.10.3"}} {
				b, _ := json.Marshal(map[string]any{"PatchedVersions": []string{a[2]}, "VulnerableVersions": []string{"< " + a[2]}})
				advs = append(advs, advisory{pkg: a[0], id: a[1], value: b})
			}
		}
		for i := 0; i < spec.Packages; i++ {
			pkg := fmt.Sprintf("%s-%s%d", words[rng.IntN(len(words))], debianStems[i%len(debianStems)], i)
			if bk.lang {
				pkg = fmt.Sprintf("%s/%s-%d", debianStems[i%len(debianStems)], words[rng.IntN(len(words))], i)
			}
			for k, n := 0, 1+rng.IntN(12); k < n; k++ {
				var v any
				if bk.lang {
					fixed := fmt.Sprintf("%d.%d.%d", rng.IntN(9), rng.IntN(30), rng.IntN(20))
					v = map[string]any{"PatchedVersions": []string{fixed}, "VulnerableVersions": []string{"< " + fixed}}
				} else if rng.IntN(3) == 0 {
					v = map[string]any{"Status": 2}
				} else {
					v = map[string]any{"FixedVersion": fmt.Sprintf("%d.%d.%d-%d", rng.IntN(9), rng.IntN(30), rng.IntN(20), 1+rng.IntN(6))}
				}
				b, _ := json.Marshal(v)
				advs = append(advs, advisory{pkg: pkg, id: pick(), value: b})
			}
		}
		if err := putAdvisories(db, bk.name, advs); err != nil {
			return err
		}
	}
	ids = append(ids, "CVE-2021-23337", "CVE-2021-44906", "CVE-2022-24999")
	if err := putVulnerabilities(db, ids, rng); err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("data-source"))
		if err != nil {
			return err
		}
		for _, bk := range advisoryBuckets {
			v, _ := json.Marshal(map[string]string{"ID": bk.id, "Name": bk.source, "URL": "https://example.invalid/" + bk.id})
			if err := b.Put([]byte(bk.name), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// bumpDebian is a Debian version just after v: the next Debian revision.
func bumpDebian(v string) string {
	i := strings.LastIndex(v, "-")
	if i < 0 {
		return v + "-1"
	}
	rev := v[i+1:]
	j := 0
	for j < len(rev) && rev[j] >= '0' && rev[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(rev[:j]) // digits only; "" is revision 0
	return fmt.Sprintf("%s-%d", v[:i], n+1)
}

// putAdvisories writes bucket/pkg/id = value, sorted, in transactions of
// bounded size.
func putAdvisories(db *bolt.DB, bucket string, advs []advisory) error {
	sort.Slice(advs, func(i, j int) bool {
		if advs[i].pkg != advs[j].pkg {
			return advs[i].pkg < advs[j].pkg
		}
		return advs[i].id < advs[j].id
	})
	const batch = 100_000
	for start := 0; start < len(advs); start += batch {
		end := min(start+batch, len(advs))
		err := db.Update(func(tx *bolt.Tx) error {
			root, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			root.FillPercent = 0.9
			var pb *bolt.Bucket
			last := ""
			for _, a := range advs[start:end] {
				if pb == nil || a.pkg != last {
					if pb, err = root.CreateBucketIfNotExists([]byte(a.pkg)); err != nil {
						return err
					}
					last = a.pkg
				}
				if err := pb.Put([]byte(a.id), a.value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// putVulnerabilities writes one record per id, with the fields Trivy reads.
func putVulnerabilities(db *bolt.DB, ids []string, rng *rand.Rand) error {
	sort.Strings(ids)
	ids = compactStrings(ids)
	sentence := func(n int) string {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[rng.IntN(len(words))])
		}
		return sb.String()
	}
	const batch = 20_000
	for start := 0; start < len(ids); start += batch {
		end := min(start+batch, len(ids))
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("vulnerability"))
			if err != nil {
				return err
			}
			b.FillPercent = 0.9
			for _, id := range ids[start:end] {
				sev := severity(rng)
				published := time.Date(2000+rng.IntN(26), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)
				var refs []string
				for r, n := 0, 2+rng.IntN(10); r < n; r++ {
					refs = append(refs, fmt.Sprintf("https://%s.example.invalid/%s/%s/%d", []string{"nvd", "security-tracker", "github", "lists", "access"}[r%5], words[rng.IntN(len(words))], strings.ToLower(id), r))
				}
				score := float64(10+rng.IntN(90)) / 10
				v := map[string]any{
					"Title":       fmt.Sprintf("%s: %s", words[rng.IntN(len(words))], sentence(6+rng.IntN(8))),
					"Description": sentence(60 + rng.IntN(120)),
					"Severity":    severities[sev-1],
					"CweIDs":      []string{fmt.Sprintf("CWE-%d", 20+rng.IntN(900))},
					"VendorSeverity": map[string]int{
						"nvd": sev, "debian": sev, "ubuntu": severity(rng), "redhat": severity(rng), "ghsa": sev,
					},
					"CVSS": map[string]any{
						"nvd":    map[string]any{"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N", "V3Score": score, "V2Vector": "AV:N/AC:M/Au:N/C:P/I:N/A:N", "V2Score": score / 2},
						"redhat": map[string]any{"V3Vector": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N", "V3Score": score},
					},
					"References":       refs,
					"PublishedDate":    published,
					"LastModifiedDate": published.AddDate(0, rng.IntN(24), rng.IntN(28)),
				}
				val, err := json.Marshal(v)
				if err != nil {
					return err
				}
				if err := b.Put([]byte(id), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
