package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// Provenance requires SLSA provenance made by a GitHub Actions workflow
// (github.com, or a GHE.com tenant), judged as `gh attestation verify
// --owner/--repo --signer-workflow --source-ref --deny-self-hosted-runners`
// judges it: the Fulcio certificate's OIDC issuer and CI extensions say who
// built what, from which ref, on which runner; the attestation's in-toto
// subject must be the digest judged. No image signature is needed.
type Provenance struct {
	// SourceRepository is "github.com/acme/api" (or "acme.ghe.com/acme/api");
	// SourceOwner is "github.com/acme". One of the two is required; the
	// repository implies its owner.
	SourceRepository, SourceOwner string
	// SignerWorkflow is the workflow that signed, "github.com/acme/api/.github/workflows/release.yml",
	// optionally with "@<ref>"; both parts are globs (path.Match: `*` stops
	// at `/`). Without "@" any ref of that workflow. Without a host, the
	// source repository's. Empty: any workflow of the repository (or of the
	// owner), as gh's default.
	SignerWorkflow string
	// SourceRef is a glob on the source repository ref, e.g. "refs/tags/v*".
	SourceRef string
	// DenySelfHostedRunners requires the runner environment "github-hosted".
	DenySelfHostedRunners bool
	// PredicateType defaults to ProvenancePredicateType.
	PredicateType string
}

// ProvenancePredicateType is SLSA provenance v1, what GitHub's
// actions/attest-build-provenance writes.
const ProvenancePredicateType = slsa1.PredicateSLSAProvenance

// ProvenanceAuthorityName names the provenance requirement in results and
// messages.
const ProvenanceAuthorityName = "provenance"

// ProvenanceFacts are what a verified provenance attestation says about the
// build: the repository, ref, commit, workflow and runner from its Fulcio
// certificate (vouched for by the CA from the CI's OIDC token), the builder
// from the predicate (signed by that workflow), and the build time, the
// attestation's verified time.
type ProvenanceFacts struct {
	Issuer, Repository, Ref, Commit, Workflow, Builder, RunnerEnvironment, Invocation string
	BuildTime                                                                         time.Time
}

// githubHostedRunner is the runner environment of GitHub-hosted runners.
const githubHostedRunner = "github-hosted"

// provenanceCheck is a Provenance ready to judge certificates.
type provenanceCheck struct {
	p        Provenance
	host     string // github.com or <tenant>.ghe.com
	issuer   string
	ownerURI string // https://host/owner
	repoURI  string // https://host/owner/repo, empty for an owner only
	// workflowPath and workflowRef are SignerWorkflow's globs, the path with
	// "https://" and no ref; workflowRef empty means any ref.
	workflowPath, workflowRef string
}

// ValidateProvenance checks a provenance requirement without network access.
func ValidateProvenance(p Provenance) error {
	_, err := prepareProvenance(p)
	return err
}

func prepareProvenance(p Provenance) (*provenanceCheck, error) {
	c := &provenanceCheck{p: p}
	if c.p.PredicateType == "" {
		c.p.PredicateType = ProvenancePredicateType
	}
	trim := func(s string) string {
		return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "https://"), "/")
	}
	var host, owner, repo string
	switch {
	case p.SourceRepository != "" && p.SourceOwner != "":
		return nil, errors.New("provenance: give source_repository or source_owner, not both (the repository names its owner)")
	case p.SourceRepository != "":
		parts := strings.Split(trim(p.SourceRepository), "/")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return nil, fmt.Errorf("provenance: source_repository %q is not <host>/<owner>/<repository>, e.g. github.com/acme/api", p.SourceRepository)
		}
		host, owner, repo = parts[0], parts[1], parts[2]
	case p.SourceOwner != "":
		parts := strings.Split(trim(p.SourceOwner), "/")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("provenance: source_owner %q is not <host>/<owner>, e.g. github.com/acme", p.SourceOwner)
		}
		host, owner = parts[0], parts[1]
	default:
		return nil, errors.New("provenance: give source_repository (github.com/<owner>/<repository>) or source_owner (github.com/<owner>): whose builds count")
	}
	host = strings.ToLower(host)
	switch {
	case host == "github.com":
		c.issuer = "https://token.actions.githubusercontent.com"
	case strings.HasSuffix(host, ".ghe.com") && strings.Count(host, ".") == 2:
		// A GHE.com tenant's tokens come from its own issuer, as gh --hostname <tenant>.ghe.com expects.
		c.issuer = "https://token.actions." + host
	default:
		return nil, fmt.Errorf("provenance: %q is neither github.com nor a GHE.com tenant (<tenant>.ghe.com); for another builder, use an authority (keyless identity or key) with an attestation block on its predicate type and require_signature = false", host)
	}
	c.host = host
	c.ownerURI = "https://" + host + "/" + owner
	if repo != "" {
		c.repoURI = c.ownerURI + "/" + repo
	}
	if w := trim(p.SignerWorkflow); w != "" {
		if first, _, _ := strings.Cut(w, "/"); !strings.Contains(first, ".") {
			w = host + "/" + w // gh: a workflow without a host is on the source's host
		}
		wp, wr, _ := strings.Cut(w, "@")
		if strings.Count(wp, "/") < 3 {
			return nil, fmt.Errorf("provenance: signer_workflow %q is not <host>/<owner>/<repository>/<path to workflow>[@<ref>], e.g. github.com/acme/api/.github/workflows/release.yml", p.SignerWorkflow)
		}
		c.workflowPath, c.workflowRef = "https://"+wp, wr
		for _, g := range []string{c.workflowPath, c.workflowRef} {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("provenance: signer_workflow %q is not a valid glob: %w", p.SignerWorkflow, err)
			}
		}
	}
	if _, err := path.Match(p.SourceRef, ""); err != nil {
		return nil, fmt.Errorf("provenance: source_ref %q is not a valid glob: %w", p.SourceRef, err)
	}
	return c, nil
}

// authority is the provenance requirement as a keyless authority that
// wants attestations of its predicate type only, never a signature.
func (c *provenanceCheck) authority() *authority {
	return &authority{name: ProvenanceAuthorityName, keyless: &KeylessAuthority{Issuer: c.issuer}, prov: c, types: []string{c.p.PredicateType}}
}

// builtBy words what a certificate says was built, for refusals.
func builtBy(s certificate.Summary) string {
	return fmt.Sprintf("built by %s from %s at %s on a %s runner", orNone(s.BuildSignerURI), orNone(s.SourceRepositoryURI), orNone(s.SourceRepositoryRef), orNone(s.RunnerEnvironment))
}

// checkCertificate judges a verified certificate as gh does: issuer, owner,
// repository, signing workflow (gh's default: a workflow of the repository,
// or of the owner), source ref, runner. Each mismatch names the attribute,
// what was required and what the certificate says.
func (c *provenanceCheck) checkCertificate(s certificate.Summary) string {
	var miss []string
	add := func(attr, required, found string) {
		miss = append(miss, fmt.Sprintf("%s requires %s, found %s", attr, required, orNone(found)))
	}
	if !strings.EqualFold(s.Issuer, c.issuer) {
		add("the OIDC issuer (from the "+c.host+" host)", c.issuer, s.Issuer)
	}
	attr := "source_owner"
	if c.repoURI != "" {
		attr = "source_repository"
	}
	if !strings.EqualFold(s.SourceRepositoryOwnerURI, c.ownerURI) {
		add(attr+" (owner)", c.ownerURI, s.SourceRepositoryOwnerURI)
	}
	if c.repoURI != "" && !strings.EqualFold(s.SourceRepositoryURI, c.repoURI) {
		add("source_repository", c.repoURI, s.SourceRepositoryURI)
	}
	if c.workflowPath != "" {
		if !c.workflowMatches(s.SubjectAlternativeName) {
			add("signer_workflow", c.workflowWanted(), s.SubjectAlternativeName)
		}
	} else {
		scope := c.repoURI
		if scope == "" {
			scope = c.ownerURI
		}
		// gh's default without --signer-workflow: the signer is a workflow
		// of the repository (--repo) or of the owner (--owner).
		if !strings.HasPrefix(strings.ToLower(s.SubjectAlternativeName), strings.ToLower(scope)+"/") {
			add("signer_workflow (default: a workflow of "+scope+")", scope+"/…", s.SubjectAlternativeName)
		}
	}
	if c.p.SourceRef != "" {
		if ok, _ := path.Match(c.p.SourceRef, s.SourceRepositoryRef); !ok {
			add("source_ref", c.p.SourceRef, s.SourceRepositoryRef)
		}
	}
	if c.p.DenySelfHostedRunners && s.RunnerEnvironment != githubHostedRunner {
		add("deny_self_hosted_runners", "runner environment "+githubHostedRunner, s.RunnerEnvironment)
	}
	if len(miss) == 0 {
		return ""
	}
	return fmt.Sprintf("provenance refused: %s; %s", builtBy(s), strings.Join(miss, "; "))
}

func (c *provenanceCheck) workflowWanted() string {
	if c.workflowRef == "" {
		return c.workflowPath
	}
	return c.workflowPath + "@" + c.workflowRef
}

// workflowMatches globs the signing workflow URI (path@ref).
func (c *provenanceCheck) workflowMatches(uri string) bool {
	i := strings.LastIndex(uri, "@")
	if i < 0 {
		return false
	}
	p, ref := uri[:i], uri[i+1:]
	if ok, _ := path.Match(c.workflowPath, p); !ok {
		return false
	}
	if c.workflowRef == "" {
		return true
	}
	ok, _ := path.Match(c.workflowRef, ref)
	return ok
}

// slsaPredicate is what provenance predicates (SLSA v1, and v0.2 of
// slsa-github-generator's legacy attestations) say about the build.
type slsaPredicate struct {
	BuildDefinition struct {
		ExternalParameters struct {
			Workflow struct {
				Ref        string `json:"ref"`
				Repository string `json:"repository"`
				Path       string `json:"path"`
			} `json:"workflow"`
		} `json:"externalParameters"`
		InternalParameters struct {
			GitHub struct {
				RunnerEnvironment string `json:"runner_environment"`
			} `json:"github"`
		} `json:"internalParameters"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID string `json:"id"`
		} `json:"builder"`
	} `json:"runDetails"`
	// SLSA v0.2
	Builder struct {
		ID string `json:"id"`
	} `json:"builder"`
	Invocation struct {
		ConfigSource struct {
			URI string `json:"uri"`
		} `json:"configSource"`
	} `json:"invocation"`
}

// checkPredicate holds the signed predicate to what the certificate says
// wherever the user constrains it: a predicate naming another repository,
// ref, builder or runner than its own certificate was not made by that
// build. Fields a predicate lacks are not judged (other builders' shapes).
func (c *provenanceCheck) checkPredicate(raw json.RawMessage, s certificate.Summary) (string, string) {
	var p slsaPredicate
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", "provenance refused: the predicate is not a JSON object: " + err.Error()
	}
	builder := p.RunDetails.Builder.ID
	if builder == "" {
		builder = p.Builder.ID
	}
	var miss []string
	add := func(field, cert, found string) {
		miss = append(miss, fmt.Sprintf("the predicate's %s is %s, its certificate says %s", field, found, orNone(cert)))
	}
	w := p.BuildDefinition.ExternalParameters.Workflow
	if w.Repository != "" && !strings.EqualFold(w.Repository, s.SourceRepositoryURI) {
		add("buildDefinition.externalParameters.workflow.repository", s.SourceRepositoryURI, w.Repository)
	}
	if c.p.SourceRef != "" && w.Ref != "" && w.Ref != s.SourceRepositoryRef {
		add("buildDefinition.externalParameters.workflow.ref", s.SourceRepositoryRef, w.Ref)
	}
	if src := p.Invocation.ConfigSource.URI; src != "" && s.SourceRepositoryURI != "" {
		if want := "git+" + s.SourceRepositoryURI; !strings.HasPrefix(strings.ToLower(src), strings.ToLower(want)+"@") {
			add("invocation.configSource.uri", want+"@…", src)
		}
	}
	if c.workflowPath != "" && builder != "" && !c.workflowMatches(builder) {
		miss = append(miss, fmt.Sprintf("the predicate's builder id is %s, signer_workflow requires %s", builder, c.workflowWanted()))
	}
	if re := p.BuildDefinition.InternalParameters.GitHub.RunnerEnvironment; c.p.DenySelfHostedRunners && re != "" && re != githubHostedRunner {
		add("buildDefinition.internalParameters.github.runner_environment", s.RunnerEnvironment, re)
	}
	if len(miss) > 0 {
		return "", fmt.Sprintf("provenance refused: %s; %s", builtBy(s), strings.Join(miss, "; "))
	}
	return builder, ""
}

// factsOf are the verified facts of a provenance attestation.
func factsOf(s certificate.Summary, builder string, verified time.Time) *ProvenanceFacts {
	return &ProvenanceFacts{
		Issuer: s.Issuer, Repository: s.SourceRepositoryURI, Ref: s.SourceRepositoryRef, Commit: s.SourceRepositoryDigest,
		Workflow: s.BuildSignerURI, Builder: builder, RunnerEnvironment: s.RunnerEnvironment, Invocation: s.RunInvocationURI,
		BuildTime: verified,
	}
}
