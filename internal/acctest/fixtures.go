package acctest

import "testing"

// FakeAWSKey looks like an AWS access key id to Trivy's secret rules; it is
// not a real key.
const FakeAWSKey = "AKIA2E0A8F3B244C9986"

// FixtureImage is one image pushed by PushScanFixtures.
type FixtureImage struct {
	RepoTag string
	// Platforms lists an index's platforms.
	Platforms []string
}

// PushScanFixtures publishes the images whose findings the scan tests and
// the parity benchmarks know against FixtureAdvisories: vulnerable and fixed
// Alpine, Debian with a fixed and an unfixed CVE, npm, secrets in a file and
// in the config, a multi-arch index vulnerable only on arm64, and an image
// with nothing to scan. bulkBytes > 0 adds BenchImage as bench/app:1.
func PushScanFixtures(tb testing.TB, reg *Registry, bulkBytes int) []FixtureImage {
	tb.Helper()
	reg.Push(tb, "alpine/vulnerable:1", Image(Config{User: "1000"},
		AlpineLayer("3.23.2", Package{Name: "musl", Version: "1.2.5-r0"}, Package{Name: "busybox", Version: "1.36.1-r29"})))
	reg.Push(tb, "alpine/fixed:1", Image(Config{User: "1000"},
		AlpineLayer("3.23.2", Package{Name: "musl", Version: "1.2.5-r1"}, Package{Name: "busybox", Version: "1.36.1-r30"})))
	reg.Push(tb, "debian/app:1", Image(Config{},
		DebianLayer("12", Package{Name: "libc6", Version: "2.36-9+deb12u4", Source: "glibc"}, Package{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"})))
	reg.Push(tb, "node/app:1", Image(Config{},
		AlpineLayer("3.23.2", Package{Name: "musl", Version: "1.2.5-r1"}),
		NpmLayer("app", Package{Name: "lodash", Version: "4.17.20"}, Package{Name: "express", Version: "4.21.2"})))
	reg.Push(tb, "secret/app:1", Image(Config{Env: []string{"AWS_ACCESS_KEY_ID=" + FakeAWSKey}},
		AlpineLayer("3.23.2", Package{Name: "musl", Version: "1.2.5-r1"}),
		Layer(File{Path: "app/"}, File{Path: "app/config.env", Content: "region=eu-west-1\naws_access_key_id=" + FakeAWSKey + "\n"})))
	amd := Image(Config{}, AlpineLayer("3.23.2", Package{Name: "musl", Version: "1.2.5-r1"}))
	arm := Image(Config{Architecture: "arm64"}, AlpineLayer("3.23.2", Package{Name: "musl", Version: "1.2.5-r0"}))
	reg.PushIndex(tb, "multi/app:1", Index(amd, arm))
	reg.Push(tb, "distroless/app:1", Image(Config{}, Layer(File{Path: "app/"}, File{Path: "app/server", Content: "binary"})))
	out := []FixtureImage{
		{RepoTag: "alpine/vulnerable:1"},
		{RepoTag: "alpine/fixed:1"},
		{RepoTag: "debian/app:1"},
		{RepoTag: "node/app:1"},
		{RepoTag: "secret/app:1"},
		{RepoTag: "multi/app:1", Platforms: []string{"linux/amd64", "linux/arm64"}},
		{RepoTag: "distroless/app:1"},
	}
	if bulkBytes > 0 {
		reg.Push(tb, "bench/app:1", BenchImage(bulkBytes))
		out = append(out, FixtureImage{RepoTag: "bench/app:1"})
	}
	return out
}
