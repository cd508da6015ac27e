package provider

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
)

// notationBlock is an authority with a notation block.
func notationBlock(name, caPEM string, identities []string, extra string) string {
	ids := make([]string, len(identities))
	for i, id := range identities {
		ids[i] = fmt.Sprintf("%q", id)
	}
	return fmt.Sprintf(`
  authority {
    name = %q
    notation {
      certificates_pem   = %q
      trusted_identities = [%s]
%s
    }
  }`, name, caPEM, strings.Join(ids, ", "), extra)
}

func notationVerify(image, body string) string {
	return fmt.Sprintf(`
data "imageguard_verify" "x" {
  image = %q
%s
}`, image, body)
}

// words matches text however the CLI wraps it.
func words(text string) string {
	return strings.Join(strings.Fields(regexp.QuoteMeta(text)), `\s+`)
}

// digestRef names d for an ExpectError pattern.
func digestRef(d v1.Hash) string { return regexp.QuoteMeta(d.String()) }

// Notary Project signatures through imageguard_verify: a trusted JWS
// signature passes and is reported; a COSE one timestamped by a TSA whose
// certificate has since expired passes with tsa_certificates_pem and
// fails without; another CA, a wrong identity, an expired certificate, a
// signature copied from another image and no signature each fail naming
// the check and the digest; require = "any" accepts the notation authority
// where the key authority has nothing, and "all" does not.
func TestAccVerify_notation(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	ca := acctest.NewNotaryCA(t, "acme")
	evil := acctest.NewNotaryCA(t, "evil")
	tsa := acctest.NewNotaryTSA(t)
	release := ca.Issue(t, "release", acctest.NotaryCertOptions{})
	host := f.reg.Host
	sign := func(repo string, d v1.Hash, c acctest.NotaryCert, o acctest.NotarySignOptions) {
		acctest.NotarySign(t, host, repo, d, c, o)
	}
	signed := f.push(t, "team/signed:1", "1")
	sign("team/signed", signed, release, acctest.NotarySignOptions{})
	otherCA := f.push(t, "team/other-ca:1", "2")
	sign("team/other-ca", otherCA, evil.Issue(t, "release", acctest.NotaryCertOptions{}), acctest.NotarySignOptions{})
	wrongID := f.push(t, "team/wrong-id:1", "3")
	sign("team/wrong-id", wrongID, ca.Issue(t, "intern", acctest.NotaryCertOptions{}), acctest.NotarySignOptions{Envelope: "cose"})
	copied := f.push(t, "team/copied:1", "4")
	copiedFrom := f.push(t, "team/copied:source", "5")
	sign("team/copied", copiedFrom, release, acctest.NotarySignOptions{})
	acctest.NotaryCopySignatures(t, host, "team/copied", copiedFrom, copied, false)
	unsigned := f.push(t, "team/unsigned:1", "6")
	// One short-lived certificate signs two images, one timestamped; both
	// are judged after it expired.
	short := ca.Issue(t, "release", acctest.NotaryCertOptions{Lifetime: 3 * time.Second})
	expired := f.push(t, "team/expired:1", "7")
	sign("team/expired", expired, short, acctest.NotarySignOptions{})
	stamped := f.push(t, "team/stamped:1", "8")
	sign("team/stamped", stamped, short, acctest.NotarySignOptions{Envelope: "cose", TSA: tsa})
	time.Sleep(time.Until(short.Chain[0].NotAfter) + 1500*time.Millisecond)

	trusted := notationBlock("release", ca.RootPEM, []string{release.Identity}, "")
	withTSA := notationBlock("release", ca.RootPEM, []string{release.Identity}, fmt.Sprintf("      tsa_certificates_pem = %q", tsa.RootPEM))
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: notationVerify(f.reg.Ref("team/signed:1"), trusted),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "pinned", knownvalue.StringExact(host+"/team/signed@"+signed.String())),
					check("data.imageguard_verify.x", "notation_signatures", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectExact(map[string]knownvalue.Check{
						"authority": knownvalue.StringExact("release"), "format": knownvalue.StringExact("jws"),
						"subject": knownvalue.StringExact("CN=release,O=acme,ST=WA,C=US"), "issuer": knownvalue.StringExact("CN=acme Signing CA,O=acme,C=US"),
						"certificate_sha256": knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`)), "signing_scheme": knownvalue.StringExact("notary.x509"),
						"signing_time": knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-`)), "timestamp_authority": knownvalue.Null(), "timestamp_time": knownvalue.Null(),
						"revocation": knownvalue.StringExact("good"), "location": knownvalue.StringExact("referrers API"),
						"signature_digest": knownvalue.StringRegexp(regexp.MustCompile(`^sha256:`)),
					})})),
					check("data.imageguard_verify.x", "signatures", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"authority": knownvalue.StringExact("release"), "format": knownvalue.StringExact("notation"), "subject": knownvalue.StringExact("CN=release,O=acme,ST=WA,C=US"),
					})})),
				},
			},
			{
				Config: notationVerify(f.reg.Ref("team/stamped:1"), withTSA),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "notation_signatures", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"format": knownvalue.StringExact("cose"), "timestamp_authority": knownvalue.StringExact("CN=acme Timestamping,O=acme TSA,C=US"),
						"timestamp_time": knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-`)),
					})})),
				},
			},
			{
				Config:      notationVerify(f.reg.Ref("team/stamped:1"), trusted),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(stamped) + `.*expired certificate: .*tsa_certificates_pem`),
			},
			{
				Config:      notationVerify(f.reg.Ref("team/expired:1"), trusted),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(expired) + `.*authority "release" did not verify: expired certificate`),
			},
			{
				Config:      notationVerify(f.reg.Ref("team/expired:1"), withTSA),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(expired) + `.*no timestamp`),
			},
			{
				Config:      notationVerify(f.reg.Ref("team/other-ca:1"), trusted),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(otherCA) + `.*untrusted signer: the certificate chain does not lead to certificates_pem.*give the CA`),
			},
			{
				Config:      notationVerify(f.reg.Ref("team/wrong-id:1"), trusted),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(wrongID) + `.*untrusted identity: the signing certificate's subject\s+"CN=intern,O=acme,ST=WA,C=US"`),
			},
			{
				Config:      notationVerify(f.reg.Ref("team/copied:1"), trusted),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(copied) + `.*signature for another digest: it signs\s+` + digestRef(copiedFrom)),
			},
			{
				Config:      notationVerify(f.reg.Ref("team/unsigned:1"), trusted),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(unsigned) + `.*authority "release" did not verify: no signature found`),
			},
			{
				// A migration: the cosign key has not signed, the Notary
				// Project signature suffices under require = "any".
				Config: notationVerify(f.reg.Ref("team/signed:1"), `  require           = "any"
  trusted_root_json = `+fmt.Sprintf("%q", f.root)+f.keyAuthority("cosign", f.key)+trusted),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "notation_signatures", knownvalue.ListSizeExact(1)),
				},
			},
			{
				Config: notationVerify(f.reg.Ref("team/signed:1"), `  require           = "all"
  trusted_root_json = `+fmt.Sprintf("%q", f.root)+f.keyAuthority("cosign", f.key)+trusted),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(signed) + `.*authority "cosign" did not verify`),
			},
		},
	})
}

// Debian's docker-registry (distribution 2.8, no referrers API): notation
// stores signatures under the sha256-<digest> referrers tag, where
// imageguard_verify finds them; a signature copied there from another
// image does not count.
func TestAccVerify_notationDockerRegistry(t *testing.T) {
	t.Parallel()
	reg := acctest.StartDockerRegistry(t, "")
	ca := acctest.NewNotaryCA(t, "acme")
	release := ca.Issue(t, "release", acctest.NotaryCertOptions{})
	push := func(tag, content string) v1.Hash {
		ref, err := name.ParseReference(reg.Host+"/team/app:"+tag, name.WeakValidation)
		if err != nil {
			t.Fatal(err)
		}
		img := acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app/" + tag, Content: content}))
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	signed, copied := push("signed", "a"), push("copied", "b")
	acctest.NotarySign(t, reg.Host, "team/app", signed, release, acctest.NotarySignOptions{TagSchema: true, Envelope: "cose"})
	acctest.NotaryCopySignatures(t, reg.Host, "team/app", signed, copied, true)
	trusted := notationBlock("release", ca.RootPEM, []string{release.Identity}, `      revocation = "skip"`)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				// The identity from a variable: unknown while the config is
				// validated, checked at read.
				Config: fmt.Sprintf("variable \"identity\" {\n  default = %q\n}\n", release.Identity) +
					notationVerify(reg.Host+"/team/app:signed", strings.Replace(trusted, fmt.Sprintf("[%q]", release.Identity), "[var.identity]", 1)),
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "notation_signatures", knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"format": knownvalue.StringExact("cose"), "location": knownvalue.StringExact("referrers tag sha256-" + signed.Hex), "revocation": knownvalue.StringExact("skipped"),
					})})),
				},
			},
			{
				Config:      notationVerify(reg.Host+"/team/app:copied", trusted),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(copied) + `.*signature for another digest`),
			},
		},
	})
}

// Notary Project signatures are read with the provider's registry
// credentials: a registry that refuses anonymous requests serves them to a
// provider with a registry block, and refuses a provider without one.
func TestAccVerify_notationPrivateRegistry(t *testing.T) {
	t.Parallel()
	private := acctest.NewRegistry(t, acctest.WithBasicAuth("alice", "correct-horse-battery"))
	ca := acctest.NewNotaryCA(t, "acme")
	release := ca.Issue(t, "release", acctest.NotaryCertOptions{})
	d := private.Push(t, "secret/app:1", acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app/private", Content: "private"})))
	acctest.NotarySign(t, private.Host, "secret/app", d, release, acctest.NotarySignOptions{Username: "alice", Password: "correct-horse-battery"})
	data := notationVerify(private.Ref("secret/app:1"), notationBlock("release", ca.RootPEM, []string{release.Identity}, ""))
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: fmt.Sprintf(`
provider "imageguard" {
  registry {
    address  = %q
    username = "alice"
    password = "correct-horse-battery"
  }
}
`, private.Host) + data,
				ConfigStateChecks: []statecheck.StateCheck{
					check("data.imageguard_verify.x", "passed", knownvalue.Bool(true)),
					check("data.imageguard_verify.x", "notation_signatures", knownvalue.ListSizeExact(1)),
				},
			},
			{
				Config:      data,
				ExpectError: regexp.MustCompile(`(?s)Registry denied access.*answered\s+401`),
			},
		},
	})
}

// The block's shape is checked at validate: exactly one kind per
// authority, identities pinned (or "*" written out), known enumerations.
func TestAccVerify_notationValidation(t *testing.T) {
	t.Parallel()
	ca := acctest.NewNotaryCA(t, "acme")
	image := "registry.example.com/team/api:1"
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: notationVerify(image, fmt.Sprintf(`
  authority {
    name = "both"
    key {
      public_key_pem = "x"
    }
    notation {
      certificates_pem   = %q
      trusted_identities = ["*"]
    }
  }`, ca.RootPEM)),
				ExpectError: regexp.MustCompile(words("exactly one of the `key`, `keyless` or `notation` blocks; it has key and notation")),
			},
			{
				Config:      notationVerify(image, "  authority {\n    name = \"none\"\n  }"),
				ExpectError: regexp.MustCompile(words("exactly one of the `key`, `keyless` or `notation` blocks; it has none")),
			},
			{
				Config:      notationVerify(image, notationBlock("release", ca.RootPEM, nil, "")),
				ExpectError: regexp.MustCompile(words("trusted_identities list must contain at least 1 elements")),
			},
			{
				Config:      notationVerify(image, notationBlock("release", ca.RootPEM, []string{"CN=release"}, "")),
				ExpectError: regexp.MustCompile(`(?s)Invalid trusted identity.*x509\.subject:`),
			},
			{
				Config:      notationVerify(image, notationBlock("release", ca.RootPEM, []string{"*"}, `      revocation = "sometimes"`)),
				ExpectError: regexp.MustCompile(`(?s)revocation.*enforce.*log.*skip`),
			},
			{
				Config:      notationVerify(image, notationBlock("release", "not a certificate", []string{"*"}, "")),
				ExpectError: regexp.MustCompile(`(?s)Invalid notation authority.*certificates_pem\s+= "not a certificate".*certificates_pem is not PEM`),
			},
		},
	})
}

// The notation authority in the three other places an authority block is:
// imageguard_pin's and imageguard_attestation's verify blocks and
// imageguard_policy's; the verdict predicate records it by its anchors'
// fingerprints and the signature as a Notary Project one.
func TestAccNotation_pinPolicyAttestation(t *testing.T) {
	f := newAttestFixture(t, acctest.NewRegistry(t))
	ca := acctest.NewNotaryCA(t, "acme")
	release := ca.Issue(t, "release", acctest.NotaryCertOptions{})
	d := f.push(t, "team/app", "1.2.5-r1")
	acctest.NotarySign(t, f.reg.Host, "team/app", d, release, acctest.NotarySignOptions{})
	unsigned := f.reg.Push(t, "team/unsigned:1", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	verifyBlock := "  verify {" + notationBlock("release", ca.RootPEM, []string{release.Identity}, "") + "\n  }"
	cfg := f.provider() + fmt.Sprintf(`
resource "imageguard_pin" "app" {
  ref = %q
%s
}

data "imageguard_policy" "p" {
  images = { app = %q }
%s
}
`, f.reg.Ref("team/app:1"), verifyBlock, f.reg.Ref("team/app:1"), verifyBlock) +
		f.attestation("app", f.pinned("team/app", d), f.keyBlock(t)+"\n"+verifyBlock)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					check("imageguard_pin.app", "digest", knownvalue.StringExact(d.String())),
					check("data.imageguard_policy.p", "pinned", knownvalue.MapExact(map[string]knownvalue.Check{"app": knownvalue.StringExact(f.pinned("team/app", d))})),
					check("imageguard_attestation.app", "verdict", knownvalue.ObjectPartial(map[string]knownvalue.Check{"result": knownvalue.StringExact("passed")})),
				},
			},
			{
				Config: f.provider() + fmt.Sprintf(`
data "imageguard_policy" "p" {
  images = { app = %q }
%s
}
`, f.reg.Ref("team/unsigned:1"), verifyBlock),
				ExpectError: regexp.MustCompile(`(?s)` + digestRef(unsigned) + `.*authority "release" did not verify: no signature found`),
			},
		},
	})
	var verdict map[string]any
	for _, r := range f.referrers(t, "team/app", d) {
		if r.Annotations[attest.AnnotationPredicateType] == verdictType {
			verdict = f.predicate(t, "team/app", d, r.Digest.String())
		}
	}
	if verdict == nil {
		t.Fatalf("no verdict attestation on %s", d)
	}
	raw, err := json.Marshal(verdict["gates"].(map[string]any)["verify"])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"notation":{"certificatesSha256":["` + gate.CertificateFingerprints(ca.RootPEM)[0] + `"]`, `"trustStoreType":"ca"`,
		`"trustedIdentities":["` + release.Identity + `"]`, `"revocation":"enforce"`, `"format":"notation-jws"`, `"subject":"CN=release,O=acme,ST=WA,C=US"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the verdict's verify gate lacks %s: %s", want, raw)
		}
	}
}
