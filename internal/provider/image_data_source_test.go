package provider

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

func TestAccImageDataSource_single(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	img := acctest.Image(acctest.Config{
		User:         "1000:1000",
		Labels:       map[string]string{"org.opencontainers.image.source": "https://github.com/acme/api"},
		ExposedPorts: []string{"8080/tcp", "22/tcp"},
		Env:          []string{"PATH=/usr/bin", "API_KEY=do-not-show-this-value"},
		Entrypoint:   []string{"/app"},
		Cmd:          []string{"--serve"},
		Created:      time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}), acctest.NpmLayer("app", acctest.Package{Name: "lodash", Version: "4.17.20"}))
	digest := reg.Push(t, "team/api:1.4.2", img)
	manifest, _ := img.Manifest()
	var size int64
	for _, l := range manifest.Layers {
		size += l.Size
	}

	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
provider "imageguard" {}
data "imageguard_image" "api" {
  ref = %q
}`, reg.Ref("team/api:1.4.2")),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_image.api", "digest", knownvalue.StringExact(digest.String())),
				check("data.imageguard_image.api", "pinned", knownvalue.StringExact(reg.Host+"/team/api@"+digest.String())),
				check("data.imageguard_image.api", "platform_digest", knownvalue.StringExact(digest.String())),
				check("data.imageguard_image.api", "media_type", knownvalue.StringExact("application/vnd.oci.image.manifest.v1+json")),
				check("data.imageguard_image.api", "platforms", knownvalue.ListSizeExact(0)),
				check("data.imageguard_image.api", "tag_digest", knownvalue.Null()),
				check("data.imageguard_image.api", "os", knownvalue.StringExact("linux")),
				check("data.imageguard_image.api", "architecture", knownvalue.StringExact("amd64")),
				check("data.imageguard_image.api", "user", knownvalue.StringExact("1000:1000")),
				check("data.imageguard_image.api", "labels", knownvalue.MapExact(map[string]knownvalue.Check{
					"org.opencontainers.image.source": knownvalue.StringExact("https://github.com/acme/api"),
				})),
				check("data.imageguard_image.api", "exposed_ports", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.StringExact("22/tcp"), knownvalue.StringExact("8080/tcp"),
				})),
				check("data.imageguard_image.api", "env_names", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.StringExact("API_KEY"), knownvalue.StringExact("PATH"),
				})),
				check("data.imageguard_image.api", "entrypoint", knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("/app")})),
				check("data.imageguard_image.api", "cmd", knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("--serve")})),
				check("data.imageguard_image.api", "created", knownvalue.StringExact("2026-03-04T05:06:07Z")),
				check("data.imageguard_image.api", "layers", knownvalue.Int64Exact(2)),
				check("data.imageguard_image.api", "size", knownvalue.Int64Exact(size)),
				check("data.imageguard_image.api", "annotations", knownvalue.MapSizeExact(0)),
			},
		}},
	})
}

func TestAccImageDataSource_index(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	amd := acctest.Image(acctest.Config{User: "amd"}, acctest.AlpineLayer("3.23.2"))
	arm := acctest.Image(acctest.Config{User: "arm", Architecture: "arm64", Variant: "v8"}, acctest.AlpineLayer("3.23.2"))
	idx := acctest.Index(arm, amd)
	digest := reg.PushIndex(t, "multi:1", idx)
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()

	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
data "imageguard_image" "default" {
  ref = %q
}
data "imageguard_image" "arm" {
  ref      = %q
  platform = "linux/arm64"
}`, reg.Ref("multi:1"), reg.Ref("multi:1")),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_image.default", "digest", knownvalue.StringExact(digest.String())),
				check("data.imageguard_image.default", "media_type", knownvalue.StringExact("application/vnd.oci.image.index.v1+json")),
				check("data.imageguard_image.default", "platforms", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectExact(map[string]knownvalue.Check{"platform": knownvalue.StringExact("linux/amd64"), "digest": knownvalue.StringExact(amdDigest.String())}),
					knownvalue.ObjectExact(map[string]knownvalue.Check{"platform": knownvalue.StringExact("linux/arm64/v8"), "digest": knownvalue.StringExact(armDigest.String())}),
				})),
				check("data.imageguard_image.default", "platform_digest", knownvalue.StringExact(amdDigest.String())),
				check("data.imageguard_image.default", "user", knownvalue.StringExact("amd")),
				// `platform` narrows the hand-out to the manifest described.
				check("data.imageguard_image.default", "pinned", knownvalue.StringExact(reg.Host+"/multi@"+digest.String())),
				check("data.imageguard_image.arm", "pinned", knownvalue.StringExact(reg.Host+"/multi@"+armDigest.String())),
				check("data.imageguard_image.arm", "platform_digest", knownvalue.StringExact(armDigest.String())),
				check("data.imageguard_image.arm", "architecture", knownvalue.StringExact("arm64/v8")),
				check("data.imageguard_image.arm", "user", knownvalue.StringExact("arm")),
			},
		}},
	})
}

func TestAccImageDataSource_tagAndDigest(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	old := reg.Push(t, "app:1", acctest.Image(acctest.Config{User: "old"}, acctest.AlpineLayer("3.23.2")))
	moved := reg.Push(t, "app:1", acctest.Image(acctest.Config{User: "new"}, acctest.AlpineLayer("3.23.2")))

	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
data "imageguard_image" "app" {
  ref = "%s@%s"
}`, reg.Ref("app:1"), old),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_image.app", "digest", knownvalue.StringExact(old.String())),
				check("data.imageguard_image.app", "tag_digest", knownvalue.StringExact(moved.String())),
				check("data.imageguard_image.app", "user", knownvalue.StringExact("old")),
			},
		}},
	})
}

func TestAccImageDataSource_badInputs(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	reg.PushIndex(t, "multi:1", acctest.Index(
		acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")),
		acctest.Image(acctest.Config{Architecture: "arm64"}, acctest.AlpineLayer("3.23.2")),
	))
	private := acctest.NewRegistry(t, acctest.WithBasicAuth("alice", "correct-horse-battery"))
	private.Push(t, "secret/app:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")))

	tlsReg := httptest.NewTLSServer(acctest.NewRegistry(t).Server.Config.Handler)
	t.Cleanup(tlsReg.Close)
	tlsHost := strings.TrimPrefix(tlsReg.URL, "https://")

	down := httptest.NewServer(nil)
	downHost := strings.TrimPrefix(down.URL, "http://")
	down.Close()

	// A plain-HTTP registry reached through a non-loopback name.
	plainHost := "registry.imageguard.test:" + strings.Split(reg.Host, ":")[1]
	pf := factories(aliasHost("registry.imageguard.test", reg.Host))

	const zero = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	cases := []struct {
		name, config string
		want         string
	}{
		{"malformed reference", `data "imageguard_image" "x" { ref = "Not A Reference" }`,
			`(?s)Malformed image reference.*"Not A Reference" is malformed`},
		{"malformed digest", `data "imageguard_image" "x" { ref = "` + reg.Ref("multi") + `@sha256:123" }`,
			`(?s)malformed digest "sha256:123".*64 hex`},
		{"unknown tag", `data "imageguard_image" "x" { ref = "` + reg.Ref("multi:nope") + `" }`,
			`(?s)Image not found.*multi:nope not.*found`},
		{"unknown digest", `data "imageguard_image" "x" { ref = "` + reg.Ref("multi") + `@` + zero + `" }`,
			`(?s)Image not found.*` + zero[:20]},
		{"platform not in the index", `data "imageguard_image" "x" {
  ref      = "` + reg.Ref("multi:1") + `"
  platform = "linux/s390x"
}`, `(?s)Platform not in image.*"linux/s390x" is not in the index.*linux/amd64,.*linux/arm64`},
		{"malformed platform", `data "imageguard_image" "x" {
  ref      = "` + reg.Ref("multi:1") + `"
  platform = "linux"
}`, `(?s)os/arch\[/variant\]`},
		{"401 without credentials", `data "imageguard_image" "x" { ref = "` + private.Ref("secret/app:1") + `" }`,
			`(?s)Registry denied access.*answered 401.*registry \{.*docker config`},
		{"401 with wrong credentials", `
provider "imageguard" {
  registry {
    address  = "` + private.Host + `"
    username = "alice"
    password = "wrong-password-xyz"
  }
}
data "imageguard_image" "x" { ref = "` + private.Ref("secret/app:1") + `" }`,
			`(?s)Registry denied access.*answered 401`},
		{"registry unreachable", `data "imageguard_image" "x" { ref = "` + downHost + `/app:1" }`,
			`(?s)Registry unreachable.*Cannot reach registry`},
		{"TLS failure", `data "imageguard_image" "x" { ref = "` + tlsHost + `/app:1" }`,
			`(?s)Registry TLS verification failed.*ca_cert_pem`},
		{"plain HTTP to a registry that is not loopback", `data "imageguard_image" "x" { ref = "` + plainHost + `/multi:1" }`,
			`(?s)Plain HTTP refused.*insecure = true`},
		{"bad timeout", `
provider "imageguard" {
  timeout = "soon"
}
data "imageguard_image" "x" { ref = "` + reg.Ref("multi:1") + `" }`, `(?s)Invalid duration.*timeout.*"soon"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				PreCheck:                 preCheck(t),
				ProtoV6ProviderFactories: pf,
				Steps: []resource.TestStep{{
					Config:      tc.config,
					ExpectError: wrapped(tc.want),
				}},
			})
		})
	}
}

func TestAccImageDataSource_credentials(t *testing.T) {
	t.Parallel()
	private := acctest.NewRegistry(t, acctest.WithBasicAuth("alice", "correct-horse-battery"))
	d := private.Push(t, "secret/app:1", acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2")))
	tokenReg := acctest.NewRegistry(t, acctest.WithBearerToken("tok-0123456789"))
	td := tokenReg.Push(t, "secret/app:1", acctest.Image(acctest.Config{User: "t"}, acctest.AlpineLayer("3.23.2")))

	plainHost := "insecure.imageguard.test:" + strings.Split(private.Host, ":")[1]
	pf := factories(aliasHost("insecure.imageguard.test", private.Host))

	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: pf,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
variable "password" {
  type      = string
  sensitive = true
  default   = "correct-horse-battery"
}
provider "imageguard" {
  registry {
    address  = %q
    username = "alice"
    password = var.password
  }
  registry {
    address = %q
    token   = "tok-0123456789"
  }
  registry {
    address  = %q
    username = "alice"
    password = var.password
    insecure = true
  }
}
data "imageguard_image" "basic" {
  ref = %q
}
data "imageguard_image" "token" {
  ref = %q
}
data "imageguard_image" "insecure" {
  ref = "%s/secret/app:1"
}`, private.Host, tokenReg.Host, plainHost, private.Ref("secret/app:1"), tokenReg.Ref("secret/app:1"), plainHost),
			ConfigStateChecks: []statecheck.StateCheck{
				check("data.imageguard_image.basic", "digest", knownvalue.StringExact(d.String())),
				check("data.imageguard_image.token", "digest", knownvalue.StringExact(td.String())),
				check("data.imageguard_image.insecure", "pinned", knownvalue.StringExact(plainHost+"/secret/app@"+d.String())),
			},
		}},
	})
}

// wrapped compiles a pattern whose spaces also match the line breaks
// terraform puts into long diagnostics.
func wrapped(pattern string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(pattern, " ", `\s+`))
}

func check(addr, attr string, v knownvalue.Check) statecheck.StateCheck {
	return statecheck.ExpectKnownValue(addr, tfjsonpath.New(attr), v)
}

func TestAccImageDataSource_rules(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	reg.Push(t, "team/root:1", acctest.Image(acctest.Config{User: "root", ExposedPorts: []string{"22/tcp"}}, acctest.AlpineLayer("3.23.2")))
	reg.Push(t, "team/ok:1", acctest.Image(acctest.Config{User: "1000:0", Labels: map[string]string{"version": "v12"}}, acctest.AlpineLayer("3.23.2")))
	cfg := func(ref, extra string) string {
		return fmt.Sprintf(`
data "imageguard_image" "x" {
  ref = %q
  rules {
    require_non_root = true
    forbidden_ports  = ["22"]
    required_labels  = { version = "^v\\d+$" }
%s
  }
}`, ref, extra)
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg(reg.Ref("team/ok:1"), ""),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_image.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_image.x", "violations", knownvalue.ListSizeExact(0)),
				},
			},
			{
				Config: cfg(reg.Ref("team/root:1"), `    enforcement = "warn"`),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_image.x", "passed", knownvalue.Bool(false)),
					check("data.imageguard_image.x", "violations", knownvalue.ListSizeExact(3)),
				},
			},
		},
	})
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config:      cfg(reg.Ref("team/root:1"), ""),
			ExpectError: wrapped(`(?s)Image violates 3 rule\(s\).*forbidden_ports: exposes port 22/tcp.*require_non_root: runs as root`),
		}},
	})
}
