package acctest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// SLSAProvenanceV1 is the predicate type GitHub's
// actions/attest-build-provenance writes.
const SLSAProvenanceV1 = "https://slsa.dev/provenance/v1"

// GitHubProvenance is the SLSA v1 predicate actions/attest-build-provenance
// writes for a run (buildType workflow/v1; builder.id is the signing
// workflow's URI; externalParameters name the workflow's repository, ref and
// path; resolvedDependencies the commit).
func GitHubProvenance(b GitHubBuild) map[string]any {
	id := GitHubActions(b)
	wf, _, _ := strings.Cut(strings.TrimPrefix(id.CI.BuildConfigURI, id.CI.SourceRepositoryURI+"/"), "@")
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType": "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters": map[string]any{"workflow": map[string]any{
				"ref": b.Ref, "repository": id.CI.SourceRepositoryURI, "path": wf,
			}},
			"internalParameters": map[string]any{"github": map[string]any{
				"event_name": "push", "repository_id": "1001", "repository_owner_id": "2002", "runner_environment": id.CI.RunnerEnvironment,
			}},
			"resolvedDependencies": []any{map[string]any{
				"uri": "git+" + id.CI.SourceRepositoryURI + "@" + b.Ref, "digest": map[string]any{"gitCommit": b.Commit},
			}},
		},
		"runDetails": map[string]any{
			"builder":  map[string]any{"id": id.CI.BuildSignerURI},
			"metadata": map[string]any{"invocationId": id.CI.RunInvocationURI},
		},
	}
}

// AttestGitHub attaches a provenance attestation exactly as
// actions/attest-build-provenance does with push-to-registry: a Sigstore
// bundle v0.3 (DSSE over an in-toto statement whose subject is the image
// digest) as the layer of an OCI 1.1 artifact manifest (artifactType
// application/vnd.dev.sigstore.bundle.v0.3+json, empty config, subject = the
// image) with GitHub's annotations. It returns the bundle's JSON, as `gh
// attestation verify --bundle` reads it.
func (r *Registry) AttestGitHub(tb testing.TB, repo string, d v1.Hash, s Signer, predicateType string, predicate any) []byte {
	tb.Helper()
	rp := r.repository(tb, repo)
	stmt := Statement(rp, s.covers(d), predicateType, predicate)
	b := s.bundle(tb, &sign.DSSEData{Data: stmt, PayloadType: "application/vnd.in-toto+json"})
	raw, err := protojson.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	if s.Tamper != nil {
		raw = s.Tamper(raw)
	}
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	layer := static.NewLayer(raw, types.MediaType(bundleType))
	empty := static.NewLayer([]byte("{}"), types.MediaType("application/vnd.oci.empty.v1+json"))
	opt := r.auth()
	for _, l := range []v1.Layer{layer, empty} {
		if err := remote.WriteLayer(rp, l, opt); err != nil {
			tb.Fatal(err)
		}
	}
	desc := func(l v1.Layer, annotations map[string]string) map[string]any {
		dg, _ := l.Digest()
		sz, _ := l.Size()
		mt, _ := l.MediaType()
		out := map[string]any{"mediaType": mt, "digest": dg.String(), "size": sz}
		if annotations != nil {
			out["annotations"] = annotations
		}
		return out
	}
	subj, err := remote.Head(rp.Digest(d.String()), opt)
	if err != nil {
		tb.Fatal(err)
	}
	manifest := map[string]any{
		"schemaVersion": 2, "mediaType": string(types.OCIManifestSchema1), "artifactType": bundleType,
		"config":  desc(empty, nil),
		"layers":  []any{desc(layer, nil)},
		"subject": map[string]any{"mediaType": subj.MediaType, "digest": subj.Digest.String(), "size": subj.Size},
		"annotations": map[string]string{
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": predicateType,
			"com.github.package.type":           "attestation",
			"org.opencontainers.image.created":  time.Now().UTC().Format(time.RFC3339),
		},
	}
	mraw, err := json.Marshal(manifest)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Put(rp.Digest(digestOf(mraw).String()), rawManifest{raw: mraw, mediaType: types.OCIManifestSchema1}, opt); err != nil {
		tb.Fatalf("attaching provenance: %v", err)
	}
	r.ResetRequests()
	return raw
}

// AttestGitHubLegacy attaches provenance as slsa-github-generator's
// container workflow does (cosign attest, pre-bundle): the DSSE envelope in
// a layer of the `sha256-<hex>.att` image.
func (r *Registry) AttestGitHubLegacy(tb testing.TB, repo string, d v1.Hash, s Signer, predicateType string, predicate any) {
	tb.Helper()
	r.AttestLegacy(tb, repo, d, s, predicateType, predicate)
}

func digestOf(raw []byte) v1.Hash {
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		panic(err)
	}
	return h
}
