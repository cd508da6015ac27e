package provider

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// hostileFixture is a hostile registry holding a vulnerable and a fixed
// Alpine image, with the fixture database on the honest registry behind it
// (faults apply only to what is read through the hostile host).
type hostileFixture struct {
	reg        *acctest.HostileRegistry
	dbRepo     string
	vulnerable v1.Image
	fixed      v1.Image
}

func newHostileFixture(t *testing.T) *hostileFixture {
	t.Helper()
	reg := acctest.NewHostileRegistry(t)
	archive := acctest.TrivyDBArchive(t, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(time.Now()))
	reg.Honest.PushTrivyDB(t, "aquasecurity/trivy-db:2", archive)
	f := &hostileFixture{
		reg:        reg,
		dbRepo:     reg.Honest.Ref("aquasecurity/trivy-db:2"),
		vulnerable: acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"})),
		fixed:      acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})),
	}
	reg.Push(t, "team/app:1", f.fixed)
	reg.Push(t, "team/app:vulnerable", f.vulnerable)
	return f
}

// provider configures the database and a fresh cache per call, so that no
// layer analysed by an earlier step hides a fault on its blob.
func (f *hostileFixture) provider(t *testing.T, timeout string) string {
	t.Helper()
	extra := ""
	if timeout != "" {
		extra = fmt.Sprintf("  timeout = %q\n", timeout)
	}
	return fmt.Sprintf(`
provider "imageguard" {
%s  vulnerability_db {
    repositories = [%q]
    cache_dir    = %q
  }
}
`, extra, f.dbRepo, t.TempDir())
}

func hostileDigestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// hostileCase is one fault and the message a user must see for it.
type hostileCase struct {
	name    string
	ref     string // what the configuration names, on the hostile host
	timeout string
	faults  []acctest.Fault
	want    string
}

func hostileCases(t *testing.T, f *hostileFixture, forScan bool) []hostileCase {
	fixedDigest := hostileDigestOf(t, f.fixed).String()
	vulnerableDigest := hostileDigestOf(t, f.vulnerable).String()
	config, _ := f.fixed.ConfigName()
	layers, _ := f.fixed.Layers()
	layer, _ := layers[0].Digest()
	// imageguard_image reads the config; the scan reads the layer as well.
	truncated, blob := config, "config"
	if forScan {
		truncated, blob = layer, "layer"
	}
	manifests := acctest.ManifestPath("team/app", "")
	return []hostileCase{
		{name: "5xx", ref: "team/app:1",
			faults: []acctest.Fault{{Path: manifests, Kind: acctest.FaultStatus, Status: http.StatusServiceUnavailable}},
			want:   `(?s)Registry error.*Registry ` + f.reg.Host + ` failed reading ` + f.reg.Host + `/team/app:1: it answered 503 Service Unavailable 4 times.*UNAVAILABLE.*try again later`},
		{name: "429 asking for longer than imageguard waits", ref: "team/app:1",
			faults: []acctest.Fault{{Path: manifests, Kind: acctest.FaultRateLimit, RetryAfter: "120"}},
			want:   `(?s)Registry error.*is rate-limiting reads of ` + f.reg.Host + `/team/app:1: it answered 429 Too Many Requests; stopped retrying: it asked to retry after 2m0s, longer than imageguard waits \(1m0s\).*registry. block`},
		{name: "429 with a short Retry-After, every time", ref: "team/app:1",
			faults: []acctest.Fault{{Path: manifests, Kind: acctest.FaultRateLimit, RetryAfter: "1"}},
			want:   `(?s)Registry error.*is rate-limiting reads of ` + f.reg.Host + `/team/app:1: it answered 429 Too Many Requests 4 times`},
		{name: "hang past the provider's timeout", ref: "team/app:1", timeout: "2s",
			faults: []acctest.Fault{{Path: manifests, Kind: acctest.FaultHang}},
			want:   `(?s)Registry unreachable.*Reading ` + f.reg.Host + `/team/app:1 from registry ` + f.reg.Host + ` timed out.*Raise .timeout.`},
		{name: "truncated " + blob + " blob", ref: "team/app:1",
			faults: []acctest.Fault{{Path: acctest.BlobPath("team/app", truncated), Method: http.MethodGet, Kind: acctest.FaultTruncate}},
			want:   `(?s)Registry sent unverifiable content.*` + f.reg.Host + `/team/app:1.*cannot pass`},
		{name: blob + " blob cut off mid-transfer", ref: "team/app:1",
			faults: []acctest.Fault{{Path: acctest.BlobPath("team/app", truncated), Method: http.MethodGet, Kind: acctest.FaultCutOff}},
			want:   `(?s)Registry sent unverifiable content.*` + f.reg.Host + `/team/app:1.*cannot pass`},
		{name: blob + " blob redirected in a loop", ref: "team/app:1",
			faults: []acctest.Fault{{Path: acctest.BlobPath("team/app", truncated), Method: http.MethodGet, Kind: acctest.FaultRedirect, RedirectTo: "http://" + f.reg.Host}},
			want:   `(?s)Registry error.*Registry ` + f.reg.Host + ` redirected the read of ` + f.reg.Host + `/team/app:1 in a loop.*nothing can pass`},
		{name: blob + " blob redirected to plain HTTP", ref: "team/app:1",
			faults: []acctest.Fault{{Path: acctest.BlobPath("team/app", truncated), Method: http.MethodGet, Kind: acctest.FaultRedirect, RedirectTo: "http://blobs.example.invalid"}},
			want:   `(?s)Plain HTTP refused.*redirected the read of ` + f.reg.Host + `/team/app:1 to plain HTTP on blobs.example.invalid`},
		{name: "manifest that does not match its digest", ref: "team/app@" + fixedDigest,
			faults: []acctest.Fault{{Path: acctest.ManifestPath("team/app", fixedDigest), Kind: acctest.FaultSwap, SwapWith: vulnerableDigest}},
			want:   `(?s)Registry sent unverifiable content.*sent content for ` + f.reg.Host + `/team/app@` + fixedDigest + ` that does not match its digest.*cannot pass`},
	}
}

func TestAccHostileRegistry_faults(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t)
	for _, ds := range []string{"imageguard_image", "imageguard_scan"} {
		for _, tc := range hostileCases(t, f, ds == "imageguard_scan") {
			t.Run(ds+"/"+tc.name, func(t *testing.T) {
				for _, fault := range tc.faults {
					f.reg.Inject(fault)
				}
				t.Cleanup(f.reg.Heal)
				attr, ignore := "ref", ""
				if ds == "imageguard_scan" {
					attr, ignore = "image", eoslFixtureIgnoreHCL
				}
				start, hitsBefore := time.Now(), len(f.reg.Faulted())
				resource.UnitTest(t, resource.TestCase{
					PreCheck:                 preCheck(t),
					ProtoV6ProviderFactories: protoV6Factories,
					Steps: []resource.TestStep{{
						Config: f.provider(t, tc.timeout) + fmt.Sprintf(`
data %q "x" {
  %s = %q%s
}
output "pinned" {
  value = data.%s.x.pinned
}`, ds, attr, f.reg.Ref(tc.ref), ignore, ds),
						ExpectError: wrapped(tc.want),
					}},
				})
				if len(f.reg.Faulted()) == hitsBefore {
					t.Fatal("the fault was never hit: the test did not test it")
				}
				if tc.timeout != "" && time.Since(start) > time.Minute {
					t.Fatalf("a hanging registry held the plan for %s despite timeout = %q", time.Since(start), tc.timeout)
				}
			})
		}
	}
}

// TestAccHostileRegistry_noPinnedOnFault reads each data source through the
// provider protocol, as terraform does, and checks what it hands back on
// each fault: an error diagnostic and no state, so no `pinned` can reach a
// resource.
func TestAccHostileRegistry_noPinnedOnFault(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t)
	for _, ds := range []string{"imageguard_image", "imageguard_scan"} {
		for _, tc := range hostileCases(t, f, ds == "imageguard_scan") {
			t.Run(ds+"/"+tc.name, func(t *testing.T) {
				for _, fault := range tc.faults {
					f.reg.Inject(fault)
				}
				t.Cleanup(f.reg.Heal)
				config := map[string]any{"ref": f.reg.Ref(tc.ref)}
				if ds == "imageguard_scan" {
					config = map[string]any{"image": f.reg.Ref(tc.ref), "ignore": []map[string]any{eoslFixtureIgnore}}
				}
				providerConfig := map[string]any{"vulnerability_db": []map[string]any{{"repositories": []string{f.dbRepo}, "cache_dir": t.TempDir()}}}
				if tc.timeout != "" {
					providerConfig["timeout"] = tc.timeout
				}
				hitsBefore := len(f.reg.Faulted())
				resp := hostileProtocolRead(t, providerConfig, ds, config)
				if len(f.reg.Faulted()) == hitsBefore {
					t.Fatal("the fault was never hit: the test did not test it")
				}
				var errs []string
				for _, d := range resp.Diagnostics {
					if d.Severity == tfprotov6.DiagnosticSeverityError {
						errs = append(errs, d.Summary+": "+d.Detail)
					}
				}
				if len(errs) == 0 {
					t.Fatalf("%s read without an error diagnostic on a hostile registry", ds)
				}
				t.Logf("%s", strings.Join(errs, "\n"))
				if !wrapped(tc.want).MatchString(strings.Join(errs, "\n")) {
					t.Errorf("diagnostics do not match %q:\n%s", tc.want, strings.Join(errs, "\n"))
				}
				if p := hostilePinnedOf(t, resp, ds); p != "" {
					t.Fatalf("%s handed out pinned = %q on a hostile registry", ds, p)
				}
			})
		}
	}
	t.Run("control: the healed registry pins", func(t *testing.T) {
		providerConfig := map[string]any{"vulnerability_db": []map[string]any{{"repositories": []string{f.dbRepo}, "cache_dir": t.TempDir()}}}
		resp := hostileProtocolRead(t, providerConfig, "imageguard_scan", map[string]any{"image": f.reg.Ref("team/app:1"), "ignore": []map[string]any{eoslFixtureIgnore}})
		for _, d := range resp.Diagnostics {
			if d.Severity == tfprotov6.DiagnosticSeverityError {
				t.Fatalf("%s: %s", d.Summary, d.Detail)
			}
		}
		if want := f.reg.Host + "/team/app@" + hostileDigestOf(t, f.fixed).String(); hostilePinnedOf(t, resp, "imageguard_scan") != want {
			t.Fatalf("pinned = %q, want %q", hostilePinnedOf(t, resp, "imageguard_scan"), want)
		}
	})
}

// eoslFixtureIgnore accepts end of life for the fixtures' Alpine release
// (releases age; Trivy dates them), so that only the faults and findings
// under test decide.
var eoslFixtureIgnore = map[string]any{"id": "OS-EOSL", "reason": "fixture release"}

const eoslFixtureIgnoreHCL = `
  ignore {
    id     = "OS-EOSL"
    reason = "fixture release"
  }`

// protocolServer is a fresh provider server, spoken to as terraform does,
// and its schemas.
func protocolServer(t *testing.T) (tfprotov6.ProviderServer, *tfprotov6.GetProviderSchemaResponse) {
	t.Helper()
	srv, err := protoV6Factories["imageguard"]()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return srv, schemas
}

// hostileProtocolRead configures a fresh provider server with
// providerConfig and reads one data source, as terraform would.
func hostileProtocolRead(t *testing.T, providerConfig map[string]any, dataSource string, config map[string]any) *tfprotov6.ReadDataSourceResponse {
	t.Helper()
	ctx := context.Background()
	srv, schemas := protocolServer(t)
	cfg := hostileConfigValue(t, schemas.Provider.Block, providerConfig)
	configured, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{TerraformVersion: "1.8.5", Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range configured.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			t.Fatalf("configuring the provider: %s: %s", d.Summary, d.Detail)
		}
	}
	ds, ok := schemas.DataSourceSchemas[dataSource]
	if !ok {
		t.Fatalf("no data source %s", dataSource)
	}
	dsCfg := hostileConfigValue(t, ds.Block, config)
	resp, err := srv.ReadDataSource(ctx, &tfprotov6.ReadDataSourceRequest{TypeName: dataSource, Config: &dsCfg})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// hostilePinnedOf is the `pinned` a read handed back; "" when there is no state
// or the value is null.
func hostilePinnedOf(t *testing.T, resp *tfprotov6.ReadDataSourceResponse, dataSource string) string {
	t.Helper()
	if resp.State == nil {
		return ""
	}
	srv, _ := protoV6Factories["imageguard"]()
	schemas, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	state, err := resp.State.Unmarshal(schemas.DataSourceSchemas[dataSource].Block.ValueType())
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]tftypes.Value
	if state.IsNull() || !state.IsKnown() {
		return ""
	}
	if err := state.As(&attrs); err != nil {
		t.Fatal(err)
	}
	var pinned *string
	if err := attrs["pinned"].As(&pinned); err != nil {
		t.Fatal(err)
	}
	if pinned == nil {
		return ""
	}
	return *pinned
}

// hostileConfigValue builds a configuration value for a schema block: the given
// attributes (string, bool, int, []string) and nested blocks
// ([]map[string]any), everything else null or empty.
func hostileConfigValue(t *testing.T, block *tfprotov6.SchemaBlock, values map[string]any) tfprotov6.DynamicValue {
	t.Helper()
	typ := block.ValueType()
	dv, err := tfprotov6.NewDynamicValue(typ, hostileObjectValue(t, block, values))
	if err != nil {
		t.Fatal(err)
	}
	return dv
}

func hostileObjectValue(t *testing.T, block *tfprotov6.SchemaBlock, values map[string]any) tftypes.Value {
	t.Helper()
	known := map[string]bool{}
	out := map[string]tftypes.Value{}
	for _, a := range block.Attributes {
		known[a.Name] = true
		out[a.Name] = hostileAttributeValue(t, a.Name, a.ValueType(), values[a.Name])
	}
	for _, nb := range block.BlockTypes {
		known[nb.TypeName] = true
		typ := nb.ValueType()
		var elems []tftypes.Value
		if v, ok := values[nb.TypeName]; ok {
			list, ok := v.([]map[string]any)
			if !ok {
				t.Fatalf("block %s: give []map[string]any, got %T", nb.TypeName, v)
			}
			for _, e := range list {
				elems = append(elems, hostileObjectValue(t, nb.Block, e))
			}
		}
		switch nb.Nesting {
		case tfprotov6.SchemaNestedBlockNestingModeList, tfprotov6.SchemaNestedBlockNestingModeSet:
			if elems == nil {
				elems = []tftypes.Value{}
			}
			out[nb.TypeName] = tftypes.NewValue(typ, elems)
		default:
			if len(elems) > 0 {
				out[nb.TypeName] = elems[0]
			} else {
				out[nb.TypeName] = tftypes.NewValue(typ, nil)
			}
		}
	}
	for k := range values {
		if !known[k] {
			t.Fatalf("the schema has no %q", k)
		}
	}
	return tftypes.NewValue(block.ValueType(), out)
}

func hostileAttributeValue(t *testing.T, name string, typ tftypes.Type, v any) tftypes.Value {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return tftypes.NewValue(typ, nil)
	case string:
		return tftypes.NewValue(typ, v)
	case bool:
		return tftypes.NewValue(typ, v)
	case int:
		return tftypes.NewValue(typ, big.NewFloat(float64(v)))
	case []string:
		var elems []tftypes.Value
		for _, s := range v {
			elems = append(elems, tftypes.NewValue(tftypes.String, s))
		}
		return tftypes.NewValue(typ, elems)
	default:
		t.Fatalf("attribute %s: unsupported value %T", name, v)
		return tftypes.Value{}
	}
}

// TestAccHostileRegistry_indexShapes drives imageguard_scan over index
// shapes that the index walk must judge as runtimes see them.
func TestAccHostileRegistry_indexShapes(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t)
	arm64 := func(musl string) v1.Image {
		return acctest.Image(acctest.Config{User: "1000", Architecture: "arm64"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: musl}))
	}
	amd64 := &v1.Platform{OS: "linux", Architecture: "amd64"}
	vulnerableArm, fixedArm := arm64("1.2.5-r0"), arm64("1.2.5-r1")

	// A child without `platform` is run by containerd on arm64 by its config.
	platformlessVulnerable := f.reg.PushOddIndex(t, "odd/platformless:vulnerable", acctest.IndexEntry{Image: f.fixed, Platform: amd64}, acctest.IndexEntry{Image: vulnerableArm})
	platformlessFixed := f.reg.PushOddIndex(t, "odd/platformless:fixed", acctest.IndexEntry{Image: f.fixed, Platform: amd64}, acctest.IndexEntry{Image: fixedArm})
	// A vulnerable image one index down.
	f.reg.PushOddIndex(t, "odd/nested:vulnerable", acctest.IndexEntry{Image: f.fixed, Platform: amd64}, acctest.IndexEntry{Index: acctest.Index(vulnerableArm)})
	// Attestations that would fail the gate if they were judged as images.
	attested := f.reg.PushOddIndex(t, "odd/attested:1", acctest.IndexEntry{Image: f.fixed, Platform: amd64},
		acctest.Attestation(hostileDigestOf(t, f.fixed), acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"})))
	fixedDigest, fixedArmDigest := hostileDigestOf(t, f.fixed).String(), hostileDigestOf(t, fixedArm).String()

	scan := func(ref string) string {
		return f.provider(t, "") + fmt.Sprintf(`
data "imageguard_scan" "x" {
  image = %q%s
}`, f.reg.Ref(ref), eoslFixtureIgnoreHCL)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config:      scan("odd/platformless:vulnerable"),
				ExpectError: wrapped(`(?s)Image has HIGH vulnerabilities.*odd/platformless:vulnerable \(` + platformlessVulnerable.String() + `\).*HIGH CVE-2025-26519 in musl 1.2.5-r0 → 1.2.5-r1 \[linux/arm64\]`),
			},
			{
				// Control: the same shape, fixed, passes and pins the index, both platforms judged.
				Config: scan("odd/platformless:fixed") + fmt.Sprintf(`
data "imageguard_image" "x" {
  ref      = %q
  platform = "linux/arm64"
}`, f.reg.Ref("odd/platformless:fixed")),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.x", "pinned", knownvalue.StringExact(f.reg.Host+"/odd/platformless@"+platformlessFixed.String())),
					check("data.imageguard_scan.x", "targets", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{"platform": knownvalue.StringExact("linux/amd64"), "target": knownvalue.StringExact("os: alpine 3.23.2")}),
						knownvalue.ObjectExact(map[string]knownvalue.Check{"platform": knownvalue.StringExact("linux/arm64"), "target": knownvalue.StringExact("os: alpine 3.23.2")}),
					})),
					check("data.imageguard_image.x", "platform_digest", knownvalue.StringExact(fixedArmDigest)),
					check("data.imageguard_image.x", "platforms", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{"platform": knownvalue.StringExact("linux/amd64"), "digest": knownvalue.StringExact(fixedDigest)}),
						knownvalue.ObjectExact(map[string]knownvalue.Check{"platform": knownvalue.StringExact("linux/arm64"), "digest": knownvalue.StringExact(fixedArmDigest)}),
					})),
				},
			},
			{
				Config:      scan("odd/nested:vulnerable"),
				ExpectError: wrapped(`(?s)Image has HIGH vulnerabilities.*odd/nested:vulnerable.*HIGH CVE-2025-26519 in musl 1.2.5-r0 → 1.2.5-r1 \[linux/arm64\]`),
			},
			{
				Config: scan("odd/attested:1"),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_scan.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_scan.x", "pinned", knownvalue.StringExact(f.reg.Host+"/odd/attested@"+attested.String())),
					check("data.imageguard_scan.x", "findings", knownvalue.ListSizeExact(0)),
				},
			},
		},
	})
}
