package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

const (
	releaseWorkflow = "acme/api/.github/workflows/release.yml@refs/heads/main"
	slsaV02         = "https://slsa.dev/provenance/v0.2"
	generator       = "slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"
)

// mainBuild is acme/api's release workflow on main, on a GitHub-hosted runner.
func mainBuild() acctest.GitHubBuild {
	return acctest.GitHubBuild{Repository: "acme/api", Workflow: releaseWorkflow, Ref: "refs/heads/main", Commit: "4f2c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"}
}

// strict is what a platform team writes: this repository's release
// workflow, from main, on GitHub's runners.
func strict() verify.Provenance {
	return verify.Provenance{
		SourceRepository: "github.com/acme/api", SignerWorkflow: "github.com/acme/api/.github/workflows/release.yml",
		SourceRef: "refs/heads/main", DenySelfHostedRunners: true,
	}
}

func (f *fixture) provenance(t *testing.T, p verify.Provenance, mutate ...func(*verify.Request)) *verify.AuthorityResult {
	t.Helper()
	req := verify.Request{Repository: f.repo, Digest: f.digest, Provenance: &p}
	for _, m := range mutate {
		m(&req)
	}
	res, err := f.verifier(t).Verify(context.Background(), req)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Provenance == nil {
		t.Fatal("no provenance result")
	}
	return res.Provenance
}

// TestProvenance: one hostile case per field, each beside a control, with
// the bundle in the referrers layout actions/attest-build-provenance
// pushes. A refusal names the field, what it requires and what was found.
func TestProvenance(t *testing.T) {
	build := func(edit func(*acctest.GitHubBuild)) acctest.GitHubBuild {
		b := mainBuild()
		if edit != nil {
			edit(&b)
		}
		return b
	}
	cases := []struct {
		name  string
		built acctest.GitHubBuild
		// edit changes what is attested after the fact (predicate, subject, type).
		predicateType string
		predicate     func(map[string]any)
		covers        bool // the statement names another image's digest
		want          verify.Provenance
		refused       []string // "" accepted
	}{
		{name: "control: release.yml on main of acme/api, GitHub-hosted → accepted", built: build(nil), want: strict()},
		{name: "source_owner github.com/acme → accepted", built: build(nil), want: verify.Provenance{SourceOwner: "github.com/acme"}},
		{name: "owner and repository compared without case, as gh does → accepted", built: build(nil), want: verify.Provenance{SourceRepository: "github.com/ACME/Api"}},
		{name: "wrong repository: built from acme/web → refused",
			built: build(func(b *acctest.GitHubBuild) {
				b.Repository, b.Workflow = "acme/web", "acme/web/.github/workflows/release.yml@refs/heads/main"
			}),
			want: verify.Provenance{SourceRepository: "github.com/acme/api"},
			refused: []string{"source_repository requires https://github.com/acme/api, found https://github.com/acme/web",
				"signer_workflow (default: a workflow of https://github.com/acme/api) requires https://github.com/acme/api/…, found https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main"}},
		{name: "fork: evil/api's release.yml on main → refused by owner",
			built: build(func(b *acctest.GitHubBuild) {
				b.Repository, b.Workflow = "evil/api", "evil/api/.github/workflows/release.yml@refs/heads/main"
			}),
			want:    strict(),
			refused: []string{"source_repository (owner) requires https://github.com/acme, found https://github.com/evil", "source_repository requires https://github.com/acme/api, found https://github.com/evil/api"}},
		{name: "fork under source_owner: evil/api → refused",
			built: build(func(b *acctest.GitHubBuild) {
				b.Repository, b.Workflow = "evil/api", "evil/api/.github/workflows/release.yml@refs/heads/main"
			}),
			want:    verify.Provenance{SourceOwner: "github.com/acme"},
			refused: []string{"source_owner (owner) requires https://github.com/acme, found https://github.com/evil"}},
		{name: "branch: built from refs/heads/feature-x → refused by source_ref",
			built: build(func(b *acctest.GitHubBuild) {
				b.Ref, b.Workflow = "refs/heads/feature-x", "acme/api/.github/workflows/release.yml@refs/heads/feature-x"
			}),
			want:    strict(),
			refused: []string{"source_ref requires refs/heads/main, found refs/heads/feature-x"}},
		{name: "workflow path: ci.yml on feature-x → refused with what built it and what is required",
			built: build(func(b *acctest.GitHubBuild) {
				b.Ref, b.Workflow = "refs/heads/feature-x", "acme/api/.github/workflows/ci.yml@refs/heads/feature-x"
			}),
			want: strict(),
			refused: []string{"built by https://github.com/acme/api/.github/workflows/ci.yml@refs/heads/feature-x",
				"signer_workflow requires https://github.com/acme/api/.github/workflows/release.yml, found https://github.com/acme/api/.github/workflows/ci.yml@refs/heads/feature-x",
				"source_ref requires refs/heads/main, found refs/heads/feature-x"}},
		{name: "workflow path prefix: release.yml.evil.yml is not release.yml → refused",
			built: build(func(b *acctest.GitHubBuild) {
				b.Workflow = "acme/api/.github/workflows/release.yml.evil.yml@refs/heads/main"
			}),
			want: strict(), refused: []string{"signer_workflow requires"}},
		{name: "signer_workflow with a ref glob @refs/tags/v* accepts a tag build",
			built: build(func(b *acctest.GitHubBuild) {
				b.Ref, b.Workflow = "refs/tags/v1.4.2", "acme/api/.github/workflows/release.yml@refs/tags/v1.4.2"
			}),
			want: verify.Provenance{SourceRepository: "github.com/acme/api", SignerWorkflow: "acme/api/.github/workflows/release.yml@refs/tags/v*", SourceRef: "refs/tags/v*"}},
		{name: "source_ref glob refs/tags/v* refuses refs/tags/x1",
			built: build(func(b *acctest.GitHubBuild) {
				b.Ref, b.Workflow = "refs/tags/x1", "acme/api/.github/workflows/release.yml@refs/tags/x1"
			}),
			want: verify.Provenance{SourceRepository: "github.com/acme/api", SourceRef: "refs/tags/v*"}, refused: []string{"source_ref requires refs/tags/v*, found refs/tags/x1"}},
		{name: "self-hosted runner → refused by deny_self_hosted_runners",
			built: build(func(b *acctest.GitHubBuild) { b.Runner = "self-hosted" }),
			want:  strict(), refused: []string{"deny_self_hosted_runners requires runner environment github-hosted, found self-hosted"}},
		{name: "control: self-hosted runner accepted without deny_self_hosted_runners",
			built: build(func(b *acctest.GitHubBuild) { b.Runner = "self-hosted" }),
			want:  verify.Provenance{SourceRepository: "github.com/acme/api", SourceRef: "refs/heads/main"}},
		{name: "another OIDC issuer with GitHub's extensions → refused",
			built: build(func(b *acctest.GitHubBuild) { b.Issuer = "https://token.actions.githubusercontent.com.evil.io" }),
			want:  strict(), refused: []string{"OIDC issuer (from the github.com host) requires https://token.actions.githubusercontent.com, found https://token.actions.githubusercontent.com.evil.io"}},
		{name: "GHE.com tenant: acme.ghe.com/acme/api built on the tenant → accepted",
			built: build(func(b *acctest.GitHubBuild) { b.Server = "https://acme.ghe.com" }),
			want:  verify.Provenance{SourceRepository: "acme.ghe.com/acme/api", SignerWorkflow: "acme.ghe.com/acme/api/.github/workflows/release.yml", SourceRef: "refs/heads/main", DenySelfHostedRunners: true}},
		{name: "GHE.com tenant: a github.com build does not pass for the tenant's repository → refused",
			built: build(nil),
			want:  verify.Provenance{SourceRepository: "acme.ghe.com/acme/api"}, refused: []string{"requires https://token.actions.acme.ghe.com, found https://token.actions.githubusercontent.com"}},
		{name: "subject for another digest → refused",
			built: build(nil), covers: true, want: strict(), refused: []string{"payload digest mismatch: the signature covers sha256:"}},
		{name: "predicate of another type (SPDX) → provenance missing",
			built: build(nil), predicateType: "https://spdx.dev/Document", want: strict(), refused: []string{"attestation of type https://slsa.dev/provenance/v1 missing"}},
		{name: "control: predicate_type v0.2 asked, v1 present → missing; the type is exact",
			built: build(nil), want: verify.Provenance{SourceRepository: "github.com/acme/api", PredicateType: slsaV02}, refused: []string{"attestation of type https://slsa.dev/provenance/v0.2 missing"}},
		{name: "predicate names another builder than its certificate → refused",
			built: build(nil), predicate: func(p map[string]any) {
				p["runDetails"].(map[string]any)["builder"] = map[string]any{"id": "https://github.com/acme/api/.github/workflows/ci.yml@refs/heads/main"}
			}, want: strict(), refused: []string{"the predicate's builder id is https://github.com/acme/api/.github/workflows/ci.yml@refs/heads/main, signer_workflow requires"}},
		{name: "predicate names another repository than its certificate → refused",
			built: build(nil), predicate: func(p map[string]any) {
				p["buildDefinition"].(map[string]any)["externalParameters"].(map[string]any)["workflow"].(map[string]any)["repository"] = "https://github.com/acme/web"
			}, want: strict(), refused: []string{"the predicate's buildDefinition.externalParameters.workflow.repository is https://github.com/acme/web, its certificate says https://github.com/acme/api"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			s := acctest.Signer{Sigstore: f.ss, Identity: acctest.GitHubActions(tc.built), TLog: true}
			if tc.covers {
				s.Covers = f.other(t)
			}
			pt := acctest.SLSAProvenanceV1
			if tc.predicateType != "" {
				pt = tc.predicateType
			}
			pred := acctest.GitHubProvenance(tc.built)
			if tc.predicate != nil {
				tc.predicate(pred)
			}
			f.reg.AttestGitHub(t, "team/api", f.digest, s, pt, pred)
			res := f.provenance(t, tc.want)
			why := strings.Join(res.Reasons, "\n")
			if len(tc.refused) == 0 {
				if len(res.Attestations) == 0 {
					t.Fatalf("refused, want accepted:\n%s", why)
				}
				facts := res.Attestations[0].Provenance
				if facts == nil || facts.Repository != acctest.GitHubActions(tc.built).CI.SourceRepositoryURI || facts.Commit != tc.built.Commit || facts.Ref != tc.built.Ref || facts.BuildTime.IsZero() {
					t.Fatalf("facts = %+v", facts)
				}
				return
			}
			if len(res.Attestations) != 0 {
				t.Fatalf("accepted, want refused with %q", tc.refused)
			}
			for _, frag := range tc.refused {
				if !strings.Contains(why, frag) {
					t.Errorf("reasons lack %q:\n%s", frag, why)
				}
			}
		})
	}
}

// TestProvenanceFacts: the facts come from the certificate (repository,
// ref, commit, workflow, runner, invocation) and the predicate (builder).
func TestProvenanceFacts(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	b := mainBuild()
	f.reg.AttestGitHub(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: acctest.GitHubActions(b), TLog: true}, acctest.SLSAProvenanceV1, acctest.GitHubProvenance(b))
	res := f.provenance(t, strict())
	if len(res.Attestations) != 1 {
		t.Fatalf("attestations = %d, reasons %q", len(res.Attestations), res.Reasons)
	}
	a := res.Attestations[0]
	got := *a.Provenance
	if got.Repository != "https://github.com/acme/api" || got.Ref != "refs/heads/main" || got.Commit != b.Commit ||
		got.Workflow != "https://github.com/"+releaseWorkflow || got.Builder != "https://github.com/"+releaseWorkflow ||
		got.RunnerEnvironment != "github-hosted" || got.Invocation != "https://github.com/acme/api/actions/runs/42/attempts/1" ||
		got.Issuer != acctest.GitHubActionsIssuer || !got.BuildTime.Equal(a.VerifiedTime) {
		t.Fatalf("facts = %+v", got)
	}
	if a.Location != "referrers API" || a.Format != "bundle" {
		t.Fatalf("found in %s (%s)", a.Location, a.Format)
	}
}

// TestProvenanceLegacy: slsa-github-generator's container workflow attests
// the pre-bundle way (`.att`, SLSA v0.2), signed by its reusable workflow.
// As with gh, the signer must then be named: by default the signer is a
// workflow of the source repository.
func TestProvenanceLegacy(t *testing.T) {
	b := acctest.GitHubBuild{Repository: "acme/api", Workflow: generator, Ref: "refs/tags/v1.4.2", Commit: "4f2c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"}
	predicate := map[string]any{
		"builder":    map[string]any{"id": "https://github.com/" + generator},
		"buildType":  "https://github.com/slsa-framework/slsa-github-generator/container@v1",
		"invocation": map[string]any{"configSource": map[string]any{"uri": "git+https://github.com/acme/api@refs/tags/v1.4.2", "entryPoint": ".github/workflows/release.yml"}},
	}
	cases := []struct {
		name    string
		want    verify.Provenance
		edit    func(map[string]any)
		refused string
	}{
		{name: "control: generator named as signer_workflow → accepted", want: verify.Provenance{
			SourceRepository: "github.com/acme/api", SignerWorkflow: "github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.*",
			SourceRef: "refs/tags/v*", PredicateType: slsaV02, DenySelfHostedRunners: true}},
		{name: "no signer_workflow: the generator is not a workflow of acme/api → refused, as gh refuses", want: verify.Provenance{SourceRepository: "github.com/acme/api", PredicateType: slsaV02},
			refused: "signer_workflow (default: a workflow of https://github.com/acme/api) requires https://github.com/acme/api/…"},
		{name: "configSource of another repository → refused", want: verify.Provenance{SourceRepository: "github.com/acme/api", SignerWorkflow: "github.com/" + generator, PredicateType: slsaV02},
			edit: func(p map[string]any) {
				p["invocation"] = map[string]any{"configSource": map[string]any{"uri": "git+https://github.com/evil/api@refs/tags/v1.4.2"}}
			}, refused: "the predicate's invocation.configSource.uri is git+https://github.com/evil/api@refs/tags/v1.4.2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			p := map[string]any{}
			for k, v := range predicate {
				p[k] = v
			}
			if tc.edit != nil {
				tc.edit(p)
			}
			f.reg.AttestGitHubLegacy(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: acctest.GitHubActions(b), TLog: true}, slsaV02, p)
			res := f.provenance(t, tc.want)
			why := strings.Join(res.Reasons, "\n")
			if tc.refused == "" {
				if len(res.Attestations) != 1 || res.Attestations[0].Format != "legacy" {
					t.Fatalf("want one legacy attestation accepted; reasons:\n%s", why)
				}
				if res.Attestations[0].Provenance.Builder != "https://github.com/"+generator {
					t.Fatalf("builder = %q", res.Attestations[0].Provenance.Builder)
				}
				return
			}
			if len(res.Attestations) != 0 || !strings.Contains(why, tc.refused) {
				t.Fatalf("want refused with %q; got %d attestations, reasons:\n%s", tc.refused, len(res.Attestations), why)
			}
		})
	}
}

// TestProvenanceWithAuthorities: provenance is judged besides the
// authorities; its result is apart from theirs and it never asks for an
// image signature.
func TestProvenanceWithAuthorities(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	b := mainBuild()
	f.reg.AttestGitHub(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: acctest.GitHubActions(b), TLog: true}, acctest.SLSAProvenanceV1, acctest.GitHubProvenance(b))
	f.reg.SignBundle(t, "team/api", f.digest, acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true})
	p := strict()
	res, err := f.verifier(t).Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest, Authorities: []verify.Authority{f.keyAuthority()}, Provenance: &p})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Authorities) != 1 || len(res.Authorities[0].Signatures) != 1 || len(res.Authorities[0].Attestations) != 0 {
		t.Fatalf("authority result = %+v", res.Authorities)
	}
	if res.Provenance == nil || len(res.Provenance.Attestations) != 1 || len(res.Provenance.Signatures) != 0 || len(res.Provenance.Reasons) != 0 {
		t.Fatalf("provenance result = %+v", res.Provenance)
	}
}

// TestRequireSignatureFalse: with AttestationsOnly an authority is
// satisfied by the attestations it signed for this digest; the control
// (a signature required) is not, and an attestation signed for another
// digest does not count.
func TestRequireSignatureFalse(t *testing.T) {
	const vuln = "https://cosign.sigstore.dev/attestation/vuln/v1"
	for _, tc := range []struct {
		name             string
		attestationsOnly bool
		covers           bool
		ok               bool
		reason           string
	}{
		{"attestations only, attested → satisfied", true, false, true, ""},
		{"control: a signature required, none made → not satisfied", false, false, false, "no signature found"},
		{"attestations only, attestation for another digest → not satisfied", true, true, false, "payload digest mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, acctest.NewRegistry(t))
			s := acctest.Signer{Key: f.key, Sigstore: f.ss, TLog: true}
			if tc.covers {
				s.Covers = f.other(t)
			}
			f.reg.AttestBundle(t, "team/api", f.digest, s, vuln, map[string]any{"scanner": map[string]any{"uri": "trivy"}})
			res, err := f.verifier(t).Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest,
				Authorities: []verify.Authority{f.keyAuthority()}, Attestations: []verify.AttestationRequest{{PredicateType: vuln}}, AttestationsOnly: tc.attestationsOnly})
			if err != nil {
				t.Fatal(err)
			}
			ar := res.Authorities[0]
			got := len(ar.Attestations) == 1 && len(ar.Reasons) == 0
			if got != tc.ok {
				t.Fatalf("satisfied = %v, want %v; reasons %q", got, tc.ok, ar.Reasons)
			}
			if tc.reason != "" && !strings.Contains(strings.Join(ar.Reasons, "\n"), tc.reason) {
				t.Fatalf("reasons lack %q: %q", tc.reason, ar.Reasons)
			}
			if tc.attestationsOnly {
				for _, l := range res.Searched {
					if strings.HasSuffix(l, ".sig") {
						t.Fatalf("looked for a signature (%s) though none is required", l)
					}
				}
			}
		})
	}
	f := newFixture(t, acctest.NewRegistry(t))
	_, err := f.verifier(t).Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest, Authorities: []verify.Authority{f.keyAuthority()}, AttestationsOnly: true})
	if err == nil || !strings.Contains(err.Error(), "add an attestation block") {
		t.Fatalf("attestations only without an attestation: err = %v", err)
	}
}

// TestValidateProvenance: shapes refused before any network access.
func TestValidateProvenance(t *testing.T) {
	for _, tc := range []struct {
		p    verify.Provenance
		want string
	}{
		{verify.Provenance{}, "give source_repository"},
		{verify.Provenance{SourceRepository: "github.com/acme/api", SourceOwner: "github.com/acme"}, "not both"},
		{verify.Provenance{SourceRepository: "acme/api"}, "is not <host>/<owner>/<repository>"},
		{verify.Provenance{SourceOwner: "github.com"}, "is not <host>/<owner>"},
		{verify.Provenance{SourceRepository: "gitlab.example.com/acme/api"}, "neither github.com nor a GHE.com tenant"},
		{verify.Provenance{SourceRepository: "github.com/acme/api", SourceRef: "refs/["}, "source_ref \"refs/[\" is not a valid glob"},
		{verify.Provenance{SourceRepository: "github.com/acme/api", SignerWorkflow: "release.yml"}, "signer_workflow \"release.yml\" is not"},
		{verify.Provenance{SourceRepository: "https://github.com/acme/api"}, ""},
	} {
		err := verify.ValidateProvenance(tc.p)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: err = %v, want %q", tc.p, err, tc.want)
		}
	}
}

// TestProvenancePrivateInstance: GitHub's own Sigstore instance (private
// repositories) keeps no transparency log; its attestations carry a signed
// timestamp. With tlog = "optional" they verify on the timestamp; the
// default (required) refuses them, saying why.
func TestProvenancePrivateInstance(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	b := mainBuild()
	f.reg.AttestGitHub(t, "team/api", f.digest, acctest.Signer{Sigstore: f.ss, Identity: acctest.GitHubActions(b), Timestamp: true}, acctest.SLSAProvenanceV1, acctest.GitHubProvenance(b))
	p := strict()
	for _, tc := range []struct {
		tlog string
		ok   bool
	}{{"optional", true}, {"required", false}} {
		v := f.verifier(t, func(o *verify.Options) { o.TLog = tc.tlog })
		res, err := v.Verify(context.Background(), verify.Request{Repository: f.repo, Digest: f.digest, Provenance: &p})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(res.Provenance.Attestations) == 1; got != tc.ok {
			t.Fatalf("tlog %s: accepted = %v, want %v; reasons %q", tc.tlog, got, tc.ok, res.Provenance.Reasons)
		}
		if !tc.ok && !strings.Contains(strings.Join(res.Provenance.Reasons, "\n"), `no transparency log entry`) {
			t.Fatalf("tlog required: reasons %q", res.Provenance.Reasons)
		}
		if tc.ok && res.Provenance.Attestations[0].Provenance.BuildTime.IsZero() {
			t.Fatal("the signed timestamp should date the build")
		}
	}
}
