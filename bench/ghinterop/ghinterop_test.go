// Package ghinterop is the Go side of bench/gh_interop.sh: the same
// provenance bundles, in the referrer layout actions/attest-build-provenance
// pushes, are judged by the real `gh attestation verify` (v2.83.0, built
// from the Go module proxy) and by internal/verify, and the two must agree
// on every accept and every refusal, one hostile case per field with its
// control. Runs only with GH_BIN set (the script sets it); never in CI.
package ghinterop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

const commit = "4f2c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"

func release() acctest.GitHubBuild {
	return acctest.GitHubBuild{Repository: "acme/api", Workflow: "acme/api/.github/workflows/release.yml@refs/heads/main", Ref: "refs/heads/main", Commit: commit}
}

type interopCase struct {
	name  string
	built func(*acctest.GitHubBuild)
	// predicateType attested (default SLSA v1); covers another digest.
	predicateType string
	covers        bool
	gh            []string
	ig            verify.Provenance
	// diverges documents a case where imageguard is stricter than gh.
	diverges string
}

var strictGH = []string{"--repo", "acme/api", "--signer-workflow", "github.com/acme/api/.github/workflows/release.yml", "--source-ref", "refs/heads/main", "--deny-self-hosted-runners"}

func strictIG() verify.Provenance {
	return verify.Provenance{SourceRepository: "github.com/acme/api", SignerWorkflow: "github.com/acme/api/.github/workflows/release.yml", SourceRef: "refs/heads/main", DenySelfHostedRunners: true}
}

func cases() []interopCase {
	return []interopCase{
		{name: "release.yml on main, all flags", gh: strictGH, ig: strictIG()},
		{name: "--owner acme", gh: []string{"--owner", "acme"}, ig: verify.Provenance{SourceOwner: "github.com/acme"}},
		{name: "--repo in another case (ACME/Api)", gh: []string{"--repo", "ACME/Api"}, ig: verify.Provenance{SourceRepository: "github.com/ACME/Api"}},
		{name: "wrong repository (acme/web)", built: func(b *acctest.GitHubBuild) {
			b.Repository, b.Workflow = "acme/web", "acme/web/.github/workflows/release.yml@refs/heads/main"
		}, gh: []string{"--repo", "acme/api"}, ig: verify.Provenance{SourceRepository: "github.com/acme/api"}},
		{name: "fork (evil/api)", built: func(b *acctest.GitHubBuild) {
			b.Repository, b.Workflow = "evil/api", "evil/api/.github/workflows/release.yml@refs/heads/main"
		}, gh: strictGH, ig: strictIG()},
		{name: "fork under --owner acme", built: func(b *acctest.GitHubBuild) {
			b.Repository, b.Workflow = "evil/api", "evil/api/.github/workflows/release.yml@refs/heads/main"
		}, gh: []string{"--owner", "acme"}, ig: verify.Provenance{SourceOwner: "github.com/acme"}},
		{name: "branch feature-x", built: func(b *acctest.GitHubBuild) {
			b.Ref, b.Workflow = "refs/heads/feature-x", "acme/api/.github/workflows/release.yml@refs/heads/feature-x"
		}, gh: strictGH, ig: strictIG()},
		{name: "workflow ci.yml", built: func(b *acctest.GitHubBuild) { b.Workflow = "acme/api/.github/workflows/ci.yml@refs/heads/main" }, gh: strictGH, ig: strictIG()},
		{name: "self-hosted runner", built: func(b *acctest.GitHubBuild) { b.Runner = "self-hosted" }, gh: strictGH, ig: strictIG()},
		{name: "self-hosted runner, not denied (control)", built: func(b *acctest.GitHubBuild) { b.Runner = "self-hosted" },
			gh: []string{"--repo", "acme/api", "--source-ref", "refs/heads/main"}, ig: verify.Provenance{SourceRepository: "github.com/acme/api", SourceRef: "refs/heads/main"}},
		{name: "subject for another digest", covers: true, gh: strictGH, ig: strictIG()},
		{name: "predicate of another type (SPDX)", predicateType: "https://spdx.dev/Document", gh: strictGH, ig: strictIG()},
		{name: "another OIDC issuer", built: func(b *acctest.GitHubBuild) { b.Issuer = "https://token.actions.githubusercontent.com.evil.io" }, gh: strictGH, ig: strictIG()},
		{name: "reusable workflow of another repo, not named", built: func(b *acctest.GitHubBuild) {
			b.Workflow = "slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"
		}, gh: []string{"--repo", "acme/api"}, ig: verify.Provenance{SourceRepository: "github.com/acme/api"}},
		{name: "reusable workflow of another repo, named (control)", built: func(b *acctest.GitHubBuild) {
			b.Workflow = "slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"
		}, gh: []string{"--repo", "acme/api", "--signer-workflow", "github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml"},
			ig: verify.Provenance{SourceRepository: "github.com/acme/api", SignerWorkflow: "github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml"}},
		{name: "workflow path with release.yml as a prefix", built: func(b *acctest.GitHubBuild) {
			b.Workflow = "acme/api/.github/workflows/release.yml.evil.yml@refs/heads/main"
		}, gh: strictGH, ig: strictIG(), diverges: "gh's --signer-workflow is a prefix regular expression; imageguard's path glob matches whole"},
	}
}

func TestGHInterop(t *testing.T) {
	gh := os.Getenv("GH_BIN")
	if gh == "" {
		t.Skip("GH_BIN not set: run bench/gh_interop.sh")
	}
	var table []string
	agree := 0
	for _, tc := range cases() {
		reg := acctest.NewRegistry(t)
		ss := acctest.NewSigstore(t)
		img := acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app/" + tc.name, Content: tc.name}))
		d := reg.Push(t, "team/api:1", img)
		b := release()
		if tc.built != nil {
			tc.built(&b)
		}
		s := acctest.Signer{Sigstore: ss, Identity: acctest.GitHubActions(b), TLog: true}
		if tc.covers {
			s.Covers = reg.Push(t, "team/api:other", acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "other", Content: tc.name})))
		}
		pt := acctest.SLSAProvenanceV1
		if tc.predicateType != "" {
			pt = tc.predicateType
		}
		bundleJSON := reg.AttestGitHub(t, "team/api", d, s, pt, acctest.GitHubProvenance(b))
		dir := t.TempDir()
		bundlePath, rootPath := filepath.Join(dir, "bundle.json"), filepath.Join(dir, "trusted_root.jsonl")
		if err := os.WriteFile(bundlePath, bundleJSON, 0o600); err != nil {
			t.Fatal(err)
		}
		root := ss.TrustedRootJSON(t)
		if err := os.WriteFile(rootPath, []byte(root+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}

		args := append([]string{"attestation", "verify", "oci://" + reg.Host + "/team/api@" + d.String(), "--bundle", bundlePath, "--custom-trusted-root", rootPath}, tc.gh...)
		cmd := exec.Command(gh, args...)
		cmd.Env = append(os.Environ(), "GH_CONFIG_DIR="+filepath.Join(dir, "gh"), "GH_NO_UPDATE_NOTIFIER=1", "GH_PROMPT_DISABLED=1", "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		ghAccepts := err == nil
		ghWhy := lastLine(string(out))

		repo, err := name.NewRepository(reg.Host+"/team/api", name.WeakValidation)
		if err != nil {
			t.Fatal(err)
		}
		v, err := verify.New(verify.Options{TrustedRootJSON: root, RemoteOptions: []remote.Option{remote.WithAuth(authn.Anonymous)}})
		if err != nil {
			t.Fatal(err)
		}
		p := tc.ig
		res, err := v.Verify(context.Background(), verify.Request{Repository: repo, Digest: d, Provenance: &p})
		if err != nil {
			t.Fatal(err)
		}
		igAccepts := len(res.Provenance.Attestations) > 0
		igWhy := ""
		if !igAccepts && len(res.Provenance.Reasons) > 0 {
			// The last reason is the candidate's refusal; the first says
			// only that none was accepted.
			igWhy = res.Provenance.Reasons[len(res.Provenance.Reasons)-1]
		}
		verdict := "agree"
		switch {
		case ghAccepts != igAccepts && tc.diverges != "":
			verdict = "expected divergence: " + tc.diverges
		case ghAccepts != igAccepts:
			verdict = "DISAGREE"
			t.Errorf("%s: gh accepts=%v (%s), imageguard accepts=%v (%s)", tc.name, ghAccepts, ghWhy, igAccepts, igWhy)
		default:
			agree++
		}
		table = append(table, fmt.Sprintf("| %s | `%s` | %s | %s | %s |", tc.name, strings.Join(tc.gh, " "), word(ghAccepts, ghWhy), word(igAccepts, igWhy), verdict))
	}
	header := "| case | gh flags | gh attestation verify | imageguard | |\n| --- | --- | --- | --- | --- |\n"
	report := header + strings.Join(table, "\n") + fmt.Sprintf("\n\n%d of %d cases agree.\n", agree, len(table))
	t.Log("\n" + report)
	if out := os.Getenv("GH_INTEROP_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(report), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func word(accepts bool, why string) string {
	if accepts {
		return "accepts"
	}
	if len(why) > 220 {
		why = why[:220] + "…"
	}
	return "refuses: " + strings.ReplaceAll(why, "|", "/")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}
