package policy

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var rulesNow = date("2026-11-22").Add(10 * time.Hour)

// goodFacts passes every rule in strictRules.
func goodFacts() ImageFacts {
	return ImageFacts{
		Name:            "api",
		Ref:             "registry.example.com/team/api:1.4.2",
		Registry:        "registry.example.com",
		Repository:      "team/api",
		Digest:          "sha256:1111111111111111111111111111111111111111111111111111111111111111",
		Platform:        "linux/amd64",
		User:            "65532:65532",
		Labels:          map[string]string{"org.opencontainers.image.version": "v14", "org.opencontainers.image.source": "https://github.com/acme/api"},
		ExposedPorts:    []string{"8080/tcp"},
		Env:             []string{"PATH=/usr/local/bin:/usr/bin", "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D", "DB_PASSWORD_FILE=/run/secrets/db"},
		History:         []string{"/bin/sh -c #(nop) ADD file:abc in /", "RUN /bin/sh -c apk add --no-cache ca-certificates # buildkit"},
		Created:         rulesNow.Add(-48 * time.Hour),
		Size:            30 << 20,
		Layers:          3,
		LayerMediaTypes: []string{"application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+gzip"},
		FilesPresent:    map[string]bool{"/root/.ssh": false, "/usr/bin/curl": false},
		Packages:        []PackageFact{{Name: "musl", Version: "1.2.5-r0", Type: "apk"}, {Name: "ca-certificates", Version: "20240705-r0", Type: "apk"}},
		BaseName:        "docker.io/library/alpine:3.20",
		BaseDigest:      digestA,
	}
}

// oneLine is a violation as the table rows spell it: rule [subject] found.
func oneLine(v Violation) string { return fmt.Sprintf("%s [%s] %s", v.Rule, v.Subject, v.Found) }

type rulesRow struct {
	name     string
	facts    func(f *ImageFacts)
	rules    Rules
	want     []string // oneLine of each violation, in order
	excepted []string // "rule [subject]" of each suppression
	warnings []string // substrings, one per warning
}

func runRulesRows(t *testing.T, rows []rulesRow) {
	t.Helper()
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			f := goodFacts()
			if row.facts != nil {
				row.facts(&f)
			}
			got, excepted, warnings := EvaluateRules(f, row.rules, rulesNow)
			var lines []string
			for _, v := range got {
				lines = append(lines, oneLine(v))
				if v.Requires == "" || v.Fix == "" {
					t.Errorf("%s: Requires and Fix must say what the rule wants and what to do: %+v", v.Rule, v)
				}
				if v.Image != f.Ref || v.Digest != f.Digest || v.Platform != f.Platform {
					t.Errorf("violation does not name the image: image %q digest %q platform %q", v.Image, v.Digest, v.Platform)
				}
			}
			if !reflect.DeepEqual(lines, row.want) {
				t.Errorf("violations:\n got  %q\n want %q", lines, row.want)
			}
			var exc []string
			for _, s := range excepted {
				exc = append(exc, fmt.Sprintf("%s [%s]", s.Rule, s.Subject))
				if !strings.HasPrefix(s.Reason, "exception: ") {
					t.Errorf("suppression reason %q does not say it is an exception", s.Reason)
				}
			}
			if !reflect.DeepEqual(exc, row.excepted) {
				t.Errorf("excepted:\n got  %q\n want %q", exc, row.excepted)
			}
			if len(warnings) != len(row.warnings) {
				t.Fatalf("warnings: got %q, want %d matching %q", warnings, len(row.warnings), row.warnings)
			}
			for i, w := range row.warnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, warnings[i], w)
				}
			}
		})
	}
}

func TestTrustedRegistries(t *testing.T) {
	repo := func(registry, repository string) func(*ImageFacts) {
		return func(f *ImageFacts) { f.Registry, f.Repository = registry, repository }
	}
	runRulesRows(t, []rulesRow{
		{name: "no trusted_registries → rule off", facts: repo("evil.io", "x/y")},
		{name: "prefix with trailing slash matches a repository under it", rules: Rules{TrustedRegistries: []string{"registry.example.com/team/"}}},
		{name: "bare registry prefix matches any repository on it", rules: Rules{TrustedRegistries: []string{"registry.example.com"}}},
		{name: "registry.example.com does not match registry.example.com.evil.io → violation",
			facts: repo("registry.example.com.evil.io", "team/api"), rules: Rules{TrustedRegistries: []string{"registry.example.com"}},
			want: []string{"trusted_registries [registry.example.com.evil.io/team/api] repository registry.example.com.evil.io/team/api"}},
		{name: "registry.example.com does not match another port of it → violation",
			facts: repo("registry.example.com:5000", "team/api"), rules: Rules{TrustedRegistries: []string{"registry.example.com"}},
			want: []string{"trusted_registries [registry.example.com:5000/team/api] repository registry.example.com:5000/team/api"}},
		{name: "prefix registry.example.com/team does not match registry.example.com/teamx → violation",
			facts: repo("registry.example.com", "teamx/api"), rules: Rules{TrustedRegistries: []string{"registry.example.com/team"}},
			want: []string{"trusted_registries [registry.example.com/teamx/api] repository registry.example.com/teamx/api"}},
		{name: "team/* matches one segment under team", rules: Rules{TrustedRegistries: []string{"registry.example.com/team/*"}}},
		{name: "team/* does not match team/a/b → violation",
			facts: repo("registry.example.com", "team/a/b"), rules: Rules{TrustedRegistries: []string{"registry.example.com/team/*"}},
			want: []string{"trusted_registries [registry.example.com/team/a/b] repository registry.example.com/team/a/b"}},
		{name: "team/** matches team/a/b", facts: repo("registry.example.com", "team/a/b"), rules: Rules{TrustedRegistries: []string{"registry.example.com/team/**"}}},
		{name: "*.example.com/** matches any subdomain", facts: repo("eu.registry.example.com", "a/b/c"), rules: Rules{TrustedRegistries: []string{"*.example.com/**"}}},
		{name: "*.example.com/** does not match example.com.evil.io → violation",
			facts: repo("example.com.evil.io", "a"), rules: Rules{TrustedRegistries: []string{"*.example.com/**"}},
			want: []string{"trusted_registries [example.com.evil.io/a] repository example.com.evil.io/a"}},
		{name: "registry host is case-insensitive", facts: repo("Registry.Example.COM", "team/api"), rules: Rules{TrustedRegistries: []string{"registry.example.com/team/"}}},
		{name: "Docker Hub's canonical host matches its short name", facts: repo(name.DefaultRegistry, "library/alpine"), rules: Rules{TrustedRegistries: []string{strings.TrimPrefix(name.DefaultRegistry, "index.") + "/library/"}}},
		{name: "any one of several entries is enough", rules: Rules{TrustedRegistries: []string{"registry.example.net/acme/", "registry.example.com/team/"}}},
	})
}

func TestRequiredLabels(t *testing.T) {
	labels := func(kv ...string) func(*ImageFacts) {
		return func(f *ImageFacts) {
			f.Labels = map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				f.Labels[kv[i]] = kv[i+1]
			}
		}
	}
	const ver = "org.opencontainers.image.version"
	runRulesRows(t, []rulesRow{
		{name: "label present and matching ^v\\d+$ passes", facts: labels(ver, "v14"), rules: Rules{RequiredLabels: map[string]string{ver: `^v\d+$`}}},
		{name: "anchored ^v\\d+$ rejects v14-rc1 → violation", facts: labels(ver, "v14-rc1"), rules: Rules{RequiredLabels: map[string]string{ver: `^v\d+$`}},
			want: []string{`required_labels [org.opencontainers.image.version] label "org.opencontainers.image.version" is "v14-rc1", which does not match ` + "`^v\\d+$`"}},
		{name: "unanchored v\\d+ accepts v14-rc1 (Go regexps are unanchored)", facts: labels(ver, "v14-rc1"), rules: Rules{RequiredLabels: map[string]string{ver: `v\d+`}}},
		{name: "missing label → violation", facts: labels(), rules: Rules{RequiredLabels: map[string]string{ver: `^v\d+$`}},
			want: []string{`required_labels [org.opencontainers.image.version] label "org.opencontainers.image.version" is missing`}},
		{name: "empty regexp only requires presence; empty value passes", facts: labels("team", ""), rules: Rules{RequiredLabels: map[string]string{"team": ""}}},
		{name: "a manifest annotation counts as the label", facts: func(f *ImageFacts) {
			f.Labels = nil
			f.Annotations = map[string]string{ver: "v3"}
		}, rules: Rules{RequiredLabels: map[string]string{ver: `^v\d+$`}}},
		{name: "several missing labels → one violation each, sorted by label", facts: labels(),
			rules: Rules{RequiredLabels: map[string]string{"team": "", "owner": "^[a-z]+$"}},
			want:  []string{`required_labels [owner] label "owner" is missing`, `required_labels [team] label "team" is missing`}},
		{name: "malformed regexp fails closed → violation", facts: labels(ver, "v1"), rules: Rules{RequiredLabels: map[string]string{ver: `^v(\d+$`}},
			want: []string{"required_labels [org.opencontainers.image.version] the regexp for label \"org.opencontainers.image.version\" does not compile (error parsing regexp: missing closing ): `^v(\\d+$`), so it cannot pass"}},
	})
}

func TestPorts(t *testing.T) {
	ports := func(p ...string) func(*ImageFacts) { return func(f *ImageFacts) { f.ExposedPorts = p } }
	runRulesRows(t, []rulesRow{
		{name: "forbidden 22 matches 22/tcp → violation", facts: ports("22/tcp", "8080/tcp"), rules: Rules{ForbiddenPorts: []string{"22"}},
			want: []string{`forbidden_ports [22/tcp] exposes port 22/tcp (forbidden by "22")`}},
		{name: "forbidden 22 matches 22/udp too → violation", facts: ports("22/udp"), rules: Rules{ForbiddenPorts: []string{"22"}},
			want: []string{`forbidden_ports [22/udp] exposes port 22/udp (forbidden by "22")`}},
		{name: "forbidden 22/tcp does not match 22/udp", facts: ports("22/udp"), rules: Rules{ForbiddenPorts: []string{"22/tcp"}}},
		{name: "exposed port without protocol is tcp → violation", facts: ports("22"), rules: Rules{ForbiddenPorts: []string{"22/tcp"}},
			want: []string{`forbidden_ports [22/tcp] exposes port 22/tcp (forbidden by "22/tcp")`}},
		{name: "forbidden range covers a port in it → violation", facts: ports("6379/tcp"), rules: Rules{ForbiddenPorts: []string{"6000-6999"}},
			want: []string{`forbidden_ports [6379/tcp] exposes port 6379/tcp (forbidden by "6000-6999")`}},
		{name: "allowed_ports lists every exposed port → pass", facts: ports("8080/tcp", "9090/tcp"), rules: Rules{AllowedPorts: []string{"8080", "9090/tcp"}}},
		{name: "port outside allowed_ports → violation", facts: ports("8080/tcp", "22/tcp"), rules: Rules{AllowedPorts: []string{"8080"}},
			want: []string{`allowed_ports [22/tcp] exposes port 22/tcp, which allowed_ports does not list`}},
		{name: "allowed 53/udp does not allow 53/tcp → violation", facts: ports("53/udp", "53/tcp"), rules: Rules{AllowedPorts: []string{"53/udp"}},
			want: []string{`allowed_ports [53/tcp] exposes port 53/tcp, which allowed_ports does not list`}},
		{name: "empty allowed_ports → rule off", facts: ports("22/tcp")},
		{name: "no exposed ports with allowed_ports → pass", facts: ports(), rules: Rules{AllowedPorts: []string{"443"}}},
		{name: "both rules report, sorted by rule", facts: ports("22/tcp"), rules: Rules{ForbiddenPorts: []string{"22"}, AllowedPorts: []string{"443"}},
			want: []string{`allowed_ports [22/tcp] exposes port 22/tcp, which allowed_ports does not list`, `forbidden_ports [22/tcp] exposes port 22/tcp (forbidden by "22")`}},
	})
}

func TestForbiddenPackages(t *testing.T) {
	pkgs := func(p ...PackageFact) func(*ImageFacts) { return func(f *ImageFacts) { f.Packages = p } }
	bash := PackageFact{Name: "bash", Version: "5.2.26-r0", Type: "apk"}
	runRulesRows(t, []rulesRow{
		{name: "bash installed, bash forbidden → violation", facts: pkgs(bash), rules: Rules{ForbiddenPackages: []string{"bash"}},
			want: []string{`forbidden_packages [bash] package bash 5.2.26-r0 (apk) is installed (forbidden by "bash")`}},
		{name: "bash-completion is not bash", facts: pkgs(PackageFact{Name: "bash-completion", Version: "2", Type: "apk"}), rules: Rules{ForbiddenPackages: []string{"bash"}}},
		{name: "glob python3* matches python3-minimal → violation", facts: pkgs(PackageFact{Name: "python3-minimal", Version: "3.11.2-1", Type: "debian"}), rules: Rules{ForbiddenPackages: []string{"python3*"}},
			want: []string{`forbidden_packages [python3-minimal] package python3-minimal 3.11.2-1 (debian) is installed (forbidden by "python3*")`}},
		{name: "names compare case-insensitively → violation", facts: pkgs(PackageFact{Name: "PyYAML", Version: "6.0", Type: "python-pkg"}), rules: Rules{ForbiddenPackages: []string{"pyyaml"}},
			want: []string{`forbidden_packages [PyYAML] package PyYAML 6.0 (python-pkg) is installed (forbidden by "pyyaml")`}},
		{name: "a package matching two entries is one violation", facts: pkgs(bash), rules: Rules{ForbiddenPackages: []string{"bash", "ba*"}},
			want: []string{`forbidden_packages [bash] package bash 5.2.26-r0 (apk) is installed (forbidden by "bash")`}},
		{name: "nothing forbidden installed → pass", rules: Rules{ForbiddenPackages: []string{"bash", "curl"}}},
	})
}

func TestForbiddenPaths(t *testing.T) {
	files := func(m map[string]bool) func(*ImageFacts) { return func(f *ImageFacts) { f.FilesPresent = m } }
	runRulesRows(t, []rulesRow{
		{name: "path present → violation", facts: files(map[string]bool{"/root/.ssh": true}), rules: Rules{ForbiddenPaths: []string{"/root/.ssh"}},
			want: []string{"forbidden_paths [/root/.ssh] /root/.ssh exists"}},
		{name: "path deleted by a whiteout (absent after whiteouts) → pass", facts: files(map[string]bool{"/root/.ssh": false}), rules: Rules{ForbiddenPaths: []string{"/root/.ssh"}}},
		{name: "relative path is the absolute path → violation", facts: files(map[string]bool{"usr/bin/curl": true}), rules: Rules{ForbiddenPaths: []string{"usr/bin/curl"}},
			want: []string{"forbidden_paths [/usr/bin/curl] /usr/bin/curl exists"}},
		{name: "path never checked fails closed → violation", facts: files(map[string]bool{}), rules: Rules{ForbiddenPaths: []string{"/etc/shadow"}},
			want: []string{"forbidden_paths [/etc/shadow] /etc/shadow was not checked: the image's file listing has no answer for it"}},
	})
}

func TestSizeAndLayers(t *testing.T) {
	runRulesRows(t, []rulesRow{
		{name: "size under max_size passes", rules: Rules{MaxSize: 100 << 20}},
		{name: "size exactly max_size passes", facts: func(f *ImageFacts) { f.Size = 100 << 20 }, rules: Rules{MaxSize: 100 << 20}},
		{name: "size over max_size → violation", facts: func(f *ImageFacts) { f.Size = 100<<20 + 1 }, rules: Rules{MaxSize: 100 << 20},
			want: []string{"max_size [size] compressed size 100.0 MiB (104857601 bytes)"}},
		{name: "max_size 0 → rule off", facts: func(f *ImageFacts) { f.Size = 5 << 30 }},
		{name: "layers at max_layers pass", rules: Rules{MaxLayers: 3}},
		{name: "layers over max_layers → violation", facts: func(f *ImageFacts) { f.Layers = 41 }, rules: Rules{MaxLayers: 40},
			want: []string{"max_layers [layers] 41 layers"}},
	})
}

func TestMaxImageAge(t *testing.T) {
	created := func(c time.Time) func(*ImageFacts) { return func(f *ImageFacts) { f.Created = c } }
	month := 30 * 24 * time.Hour
	runRulesRows(t, []rulesRow{
		{name: "two days old, max 30d → pass", rules: Rules{MaxImageAge: month}},
		{name: "exactly 30d old → pass", facts: created(rulesNow.Add(-month)), rules: Rules{MaxImageAge: month}},
		{name: "45d3h old, max 30d → violation", facts: created(rulesNow.Add(-45*24*time.Hour - 3*time.Hour)), rules: Rules{MaxImageAge: month},
			want: []string{"max_image_age [created] built 2026-10-08T07:00:00Z, 45d3h ago"}},
		{name: "created in the future (clock skew) → pass", facts: created(rulesNow.Add(time.Hour)), rules: Rules{MaxImageAge: month}},
		{name: "epoch creation time (reproducible build) cannot be judged → violation", facts: created(time.Unix(0, 0)), rules: Rules{MaxImageAge: month},
			want: []string{"max_image_age [created] no usable creation time (created is 1970-01-01T00:00:00Z, as reproducible builds often set it), so the age cannot be judged"}},
		{name: "unset creation time → violation", facts: created(time.Time{}), rules: Rules{MaxImageAge: month},
			want: []string{"max_image_age [created] no usable creation time (created is unset, as reproducible builds often set it), so the age cannot be judged"}},
		{name: "max_image_age 0 → rule off", facts: created(time.Time{})},
	})
}

func TestAllowedBaseImages(t *testing.T) {
	base := func(name, digest string) func(*ImageFacts) {
		return func(f *ImageFacts) { f.BaseName, f.BaseDigest = name, digest }
	}
	runRulesRows(t, []rulesRow{
		{name: "exact name:tag passes", rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine:3.20"}}},
		{name: "repository prefix covers any tag", rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine"}}},
		{name: "alpine:3.20 does not cover alpine:3.20.1 → violation", facts: base("docker.io/library/alpine:3.20.1", ""), rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine:3.20"}},
			want: []string{"allowed_base_images [docker.io/library/alpine:3.20.1] base image docker.io/library/alpine:3.20.1"}},
		{name: "Docker Hub short names are expanded on both sides", facts: base("alpine:3.20", ""), rules: Rules{AllowedBaseImages: []string{"alpine"}}},
		{name: "alpine does not cover alpine-extra → violation", facts: base("docker.io/library/alpine-extra:1", ""), rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine"}},
			want: []string{"allowed_base_images [docker.io/library/alpine-extra:1] base image docker.io/library/alpine-extra:1"}},
		{name: "digest given and equal → pass", rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine:3.20@" + digestA}}},
		{name: "digest given and different → violation", facts: base("docker.io/library/alpine:3.20", digestB), rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine:3.20@" + digestA}},
			want: []string{"allowed_base_images [docker.io/library/alpine:3.20] base image docker.io/library/alpine:3.20@" + digestB}},
		{name: "digest given but image declares none → violation", facts: base("docker.io/library/alpine:3.20", ""), rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine@" + digestA}},
			want: []string{"allowed_base_images [docker.io/library/alpine:3.20] base image docker.io/library/alpine:3.20"}},
		{name: "glob over a registry", facts: base("registry.example.com/base/debian:12", ""), rules: Rules{AllowedBaseImages: []string{"registry.example.com/base/*"}}},
		{name: "base taken from the annotation when facts leave it empty", facts: func(f *ImageFacts) {
			f.BaseName, f.BaseDigest = "", ""
			f.Annotations = map[string]string{AnnotationBaseName: "docker.io/library/alpine:3.20", AnnotationBaseDigest: digestA}
		}, rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine@" + digestA}}},
		{name: "no declared base image fails closed → violation", facts: base("", ""), rules: Rules{AllowedBaseImages: []string{"docker.io/library/alpine"}},
			want: []string{"allowed_base_images [] no declared base image (no org.opencontainers.image.base.name annotation or label)"}},
	})
}

func TestLayerEncryption(t *testing.T) {
	const plain = "application/vnd.oci.image.layer.v1.tar+gzip"
	const enc = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
	layers := func(mt ...string) func(*ImageFacts) {
		return func(f *ImageFacts) { f.LayerMediaTypes = mt; f.Layers = len(mt) }
	}
	runRulesRows(t, []rulesRow{
		{name: "allow (default) accepts anything", facts: layers(plain, enc)},
		{name: "require with all layers encrypted → pass", facts: layers(enc, enc), rules: Rules{LayerEncryption: "require"}},
		{name: "require with a plain layer → violation", facts: layers(enc, plain, enc), rules: Rules{LayerEncryption: "require"},
			want: []string{"layer_encryption [layers] 1 of 3 layers are not encrypted (layer 1, counting from 0)"}},
		{name: "forbid with an encrypted layer → violation", facts: layers(plain, enc), rules: Rules{LayerEncryption: "forbid"},
			want: []string{"layer_encryption [layers] 1 of 2 layers are encrypted (layer 1, counting from 0)"}},
		{name: "forbid with plain layers → pass", facts: layers(plain, plain), rules: Rules{LayerEncryption: "forbid"}},
		{name: "unknown setting fails closed → violation", rules: Rules{LayerEncryption: "maybe"},
			want: []string{`layer_encryption [layers] layer_encryption is "maybe", which is not require, forbid or allow`}},
	})
}

func TestSecretsInConfig(t *testing.T) {
	on := Rules{SecretsInConfig: true}
	env := func(e ...string) func(*ImageFacts) { return func(f *ImageFacts) { f.Env = e } }
	history := func(h ...string) func(*ImageFacts) { return func(f *ImageFacts) { f.History = h } }
	runRulesRows(t, []rulesRow{
		{name: "plain config (GPG_KEY fingerprint, *_FILE pointer) → pass", rules: on},
		{name: "rule off → secrets ignored", facts: env("DB_PASSWORD=hunter2")},
		{name: "secret-named env var with a value → violation, value never shown", facts: env("DB_PASSWORD=hunter2"), rules: on,
			want: []string{"secrets_in_config [env:DB_PASSWORD] environment variable DB_PASSWORD has a value baked into the image (value not shown)"}},
		{name: "secret-named env var that is empty or a reference → pass", facts: env("API_TOKEN=", "NPM_TOKEN=${NPM_TOKEN}"), rules: on},
		{name: "token format in any env var → violation", facts: env("CONFIG=AKIAIOSFODNN7EXAMPLE"), rules: on,
			want: []string{"secrets_in_config [env:CONFIG] environment variable CONFIG holds what looks like an AWS access key id (value not shown)"}},
		{name: "URL with a password in env → violation", facts: env("DATABASE_URL=postgres://app:s3cret@db:5432/app"), rules: on,
			want: []string{"secrets_in_config [env:DATABASE_URL] environment variable DATABASE_URL holds what looks like a URL with a password (value not shown)"}},
		{name: "build arg recorded in history → violation", facts: history("RUN |1 NPM_TOKEN=npm-abc123 /bin/sh -c npm ci # buildkit"), rules: on,
			want: []string{"secrets_in_config [history[0]] build history step 0 sets NPM_TOKEN to a value (not shown)"}},
		{name: "Trivy's config secrets are violations", facts: func(f *ImageFacts) {
			f.ConfigSecrets = []Secret{{RuleID: "github-pat", Category: "GitHub", Severity: "CRITICAL", Target: "config"}}
		}, rules: on, want: []string{"secrets_in_config [github-pat] CRITICAL secret github-pat (GitHub) in config"}},
	})
	// The value itself never appears anywhere in a violation.
	f := goodFacts()
	f.Env = []string{"DB_PASSWORD=hunter2", "X=AKIAIOSFODNN7EXAMPLE"}
	f.History = []string{"ENV DB_PASSWORD=hunter2"}
	v, _, _ := EvaluateRules(f, on, rulesNow)
	for _, x := range v {
		if s := fmt.Sprintf("%+v", x); strings.Contains(s, "hunter2") || strings.Contains(s, "AKIAIOSFODNN7EXAMPLE") {
			t.Errorf("violation echoes a secret: %s", s)
		}
	}
}

func TestExceptions(t *testing.T) {
	rootFacts := func(f *ImageFacts) { f.User = "root"; f.ExposedPorts = []string{"22/tcp", "8080/tcp"} }
	exc := func(rule, finding, image string, expires string) Exception {
		return Exception{Rule: rule, Finding: finding, Image: image, Reason: "bastion image", Expires: date(expires), Owner: "alice@example.com"}
	}
	rules := func(e ...Exception) Rules {
		return Rules{RequireNonRoot: true, ForbiddenPorts: []string{"22"}, Exceptions: e}
	}
	rootLine := `require_non_root [root] runs as root (USER "root" is uid 0: the user root)`
	portLine := `forbidden_ports [22/tcp] exposes port 22/tcp (forbidden by "22")`
	runRulesRows(t, []rulesRow{
		{name: "no exceptions → both violations", facts: rootFacts, rules: rules(), want: []string{portLine, rootLine}},
		{name: "exception for a rule accepts its violations", facts: rootFacts, rules: rules(exc("require_non_root", "", "", "2027-01-31")),
			want: []string{portLine}, excepted: []string{"require_non_root [root]"}},
		{name: "exception for port 22 covers 22/tcp", facts: rootFacts, rules: rules(exc("forbidden_ports", "22", "", "2027-01-31")),
			want: []string{rootLine}, excepted: []string{"forbidden_ports [22/tcp]"}},
		{name: "exception for another port does not apply", facts: rootFacts, rules: rules(exc("forbidden_ports", "2222", "", "2027-01-31")),
			want: []string{portLine, rootLine}},
		{name: "exception for this image by name applies", facts: rootFacts, rules: rules(exc("require_non_root", "", "api", "2027-01-31")),
			want: []string{portLine}, excepted: []string{"require_non_root [root]"}},
		{name: "exception for this image by repository applies", facts: rootFacts, rules: rules(exc("require_non_root", "", "registry.example.com/team/api", "2027-01-31")),
			want: []string{portLine}, excepted: []string{"require_non_root [root]"}},
		{name: "exception for another image does not apply", facts: rootFacts, rules: rules(exc("require_non_root", "", "worker", "2027-01-31")),
			want: []string{portLine, rootLine}},
		{name: "exception valid through its expiry day", facts: rootFacts, rules: rules(exc("require_non_root", "", "", "2026-11-22")),
			want: []string{portLine}, excepted: []string{"require_non_root [root]"}},
		{name: "expired exception stops applying and warns naming it and its owner", facts: rootFacts, rules: rules(exc("require_non_root", "", "api", "2026-11-21")),
			want:     []string{portLine, rootLine},
			warnings: []string{`The exception for require_non_root (image "api"), owned by alice@example.com, expired on 2026-11-21 and no longer applies (reason was: "bastion image")`}},
		{name: "expired exception warns once for several violations", facts: func(f *ImageFacts) { f.ExposedPorts = []string{"22/tcp", "22/udp"} },
			rules:    Rules{ForbiddenPorts: []string{"22"}, Exceptions: []Exception{exc("forbidden_ports", "", "", "2026-01-01")}},
			want:     []string{`forbidden_ports [22/tcp] exposes port 22/tcp (forbidden by "22")`, `forbidden_ports [22/udp] exposes port 22/udp (forbidden by "22")`},
			warnings: []string{"The exception for forbidden_ports, owned by alice@example.com, expired on 2026-01-01"}},
		{name: "expired exception that matches nothing is silent", rules: Rules{Exceptions: []Exception{exc("require_non_root", "", "", "2020-01-01")}}},
		{name: "exception without reason does not apply and warns", facts: rootFacts,
			rules:    rules(Exception{Rule: "require_non_root", Expires: date("2027-01-31")}),
			want:     []string{portLine, rootLine},
			warnings: []string{"exceptions[0] does not apply: exception for require_non_root: reason is required"}},
	})
}

func TestExceptionValidate(t *testing.T) {
	cases := []struct {
		name string
		e    Exception
		want string // "" means valid
	}{
		{"complete exception is valid", Exception{Rule: "max_size", Reason: "legacy", Expires: date("2027-01-01")}, ""},
		{"owner is optional", Exception{Rule: "max_size", Finding: "size", Reason: "legacy", Expires: date("2027-01-01")}, ""},
		{"missing reason", Exception{Rule: "max_size", Expires: date("2027-01-01")}, "exception for max_size: reason is required: say why the violation is accepted"},
		{"missing expiry", Exception{Rule: "max_size", Reason: "r"}, "exception for max_size: expires is required (YYYY-MM-DD): every exception must end"},
		{"unknown rule", Exception{Rule: "max-size", Reason: "r", Expires: date("2027-01-01")}, `exception for max-size: rule "max-size" is not one of allowed_base_images, allowed_ports`},
		{"everything missing names every problem", Exception{}, "exception for -: rule is required (one of allowed_base_images"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.e.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
				t.Fatalf("error = %v, want prefix %q", err, c.want)
			}
		})
	}
	if err := (Exception{}).Validate(); err == nil || !strings.Contains(err.Error(), "reason is required") || !strings.Contains(err.Error(), "expires is required") {
		t.Errorf("an empty exception must name every missing field, got %v", err)
	}
}

func TestValidateRules(t *testing.T) {
	cases := []struct {
		name  string
		rules Rules
		want  []string // each error's text, prefix
	}{
		{"a complete, well-formed policy", Rules{
			TrustedRegistries: []string{"registry.example.com/team/", "*.example.com/**"},
			RequireNonRoot:    true,
			RequiredLabels:    map[string]string{"org.opencontainers.image.version": `^v\d+$`},
			ForbiddenPorts:    []string{"22", "23/tcp", "6000-6999/udp"},
			AllowedPorts:      []string{"443"},
			ForbiddenPackages: []string{"bash", "python3*"},
			ForbiddenPaths:    []string{"/root/.ssh", "usr/bin/curl"},
			MaxSize:           1 << 30, MaxLayers: 40, MaxImageAge: 720 * time.Hour,
			AllowedBaseImages: []string{"docker.io/library/alpine:3.20@" + digestA, "registry.example.com/base/*"},
			LayerEncryption:   "forbid",
			Exceptions:        []Exception{{Rule: "max_size", Reason: "r", Expires: date("2027-01-01")}},
		}, nil},
		{"trusted_registries with a scheme", Rules{TrustedRegistries: []string{"https://registry.example.com"}},
			[]string{`trusted_registries[0]: "https://registry.example.com" has a URL scheme`}},
		{"trusted_registries with a tag or digest", Rules{TrustedRegistries: []string{"ok.example.com", "r.example.com/team/api:1", "r.example.com/team/api@" + digestA}},
			[]string{`trusted_registries[1]: "r.example.com/team/api:1" names a tag`, `trusted_registries[2]: "r.example.com/team/api@` + digestA + `" names a digest`}},
		{"trusted_registries with *** or empty", Rules{TrustedRegistries: []string{"r.example.com/***", " "}},
			[]string{`trusted_registries[0]: "r.example.com/***": use "*"`, "trusted_registries[1]: is empty"}},
		{"trusted_registries with a port is fine", Rules{TrustedRegistries: []string{"localhost:5000/team/"}}, nil},
		{"required_labels with a bad regexp", Rules{RequiredLabels: map[string]string{"v": "(", "ok": "^x$"}},
			[]string{`required_labels["v"]: the regexp "(" does not compile`}},
		{"ports that do not parse", Rules{ForbiddenPorts: []string{"ssh", "22/icmp", "0"}, AllowedPorts: []string{"90-80"}},
			[]string{`forbidden_ports[0]: "ssh" is not a port`, `forbidden_ports[1]: "22/icmp": protocol "icmp" is not tcp, udp or sctp`, `forbidden_ports[2]: "0" is not a port`, `allowed_ports[0]: "90-80" is not a port range`}},
		{"forbidden_paths that are not exact paths", Rules{ForbiddenPaths: []string{"/etc/*.key", "/", "/etc/../root", ""}},
			[]string{`forbidden_paths[0]: "/etc/*.key" has a wildcard`, `forbidden_paths[1]: "/" is the root directory`, `forbidden_paths[2]: "/etc/../root" has a ".." segment`, "forbidden_paths[3]: is empty"}},
		{"negative limits", Rules{MaxSize: -1, MaxLayers: -1, MaxImageAge: -time.Hour},
			[]string{"max_size: -1 is negative", "max_layers: -1 is negative", "max_image_age: -1h0m0s is negative"}},
		{"allowed_base_images with a short digest", Rules{AllowedBaseImages: []string{"alpine@sha256:abc"}},
			[]string{`allowed_base_images[0]: "alpine@sha256:abc": the digest "sha256:abc" is not sha256:`}},
		{"layer_encryption misspelled", Rules{LayerEncryption: "required"},
			[]string{`layer_encryption: "required" is not "require", "forbid" or "allow"`}},
		{"exception without expiry", Rules{Exceptions: []Exception{{Rule: "max_size", Reason: "r"}}},
			[]string{"exceptions[0]: exception for max_size: expires is required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := ValidateRules(c.rules)
			if len(errs) != len(c.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(c.want))
			}
			for i, w := range c.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, errs[i], w)
				}
			}
		})
	}
}

func TestEvaluateRulesDeterministic(t *testing.T) {
	f := goodFacts()
	f.User = "root"
	f.ExposedPorts = []string{"8080/tcp", "22/tcp", "23/tcp", "22"}
	f.Labels = nil
	f.Packages = []PackageFact{{Name: "curl", Version: "8"}, {Name: "bash", Version: "5"}}
	r := Rules{
		RequireNonRoot: true, ForbiddenPorts: []string{"22", "23"}, ForbiddenPackages: []string{"curl", "bash"},
		RequiredLabels: map[string]string{"b": "", "a": "", "c": ""},
	}
	first, _, _ := EvaluateRules(f, r, rulesNow)
	want := []string{
		`forbidden_packages [bash] package bash 5 is installed (forbidden by "bash")`,
		`forbidden_packages [curl] package curl 8 is installed (forbidden by "curl")`,
		`forbidden_ports [22/tcp] exposes port 22/tcp (forbidden by "22")`,
		`forbidden_ports [23/tcp] exposes port 23/tcp (forbidden by "23")`,
		`require_non_root [root] runs as root (USER "root" is uid 0: the user root)`,
		`required_labels [a] label "a" is missing`,
		`required_labels [b] label "b" is missing`,
		`required_labels [c] label "c" is missing`,
	}
	var got []string
	for _, v := range first {
		got = append(got, oneLine(v))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order:\n got  %q\n want %q", got, want)
	}
	for i := 0; i < 20; i++ {
		again, _, _ := EvaluateRules(f, r, rulesNow)
		if !reflect.DeepEqual(again, first) {
			t.Fatalf("run %d differs", i)
		}
	}
}
