// Package attest publishes imageguard's verdict on an image as signed
// in-toto attestations, so that admission controllers and auditors can read
// it after the plan: the cosign vulnerability predicate (the shape `trivy
// --format cosign-vuln` writes) and imageguard's own verdict predicate. Each
// is an in-toto statement over the image digest in a DSSE envelope inside a
// Sigstore bundle, signed with sigstore-go (a key, a KMS key, or keyless
// through Fulcio; optionally logged in Rekor), and attached to the digest as
// an OCI 1.1 referrer exactly as `cosign attest` v3 stores it: through the
// referrers API, or the `sha256-<hex>` referrers tag on registries without
// it. internal/verify reads what this package writes. Nothing here imports
// the plugin framework.
package attest

import (
	"encoding/json"
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// Predicate types this package writes.
const (
	// VulnPredicateType is cosign's vulnerability scan predicate (cosign
	// `--type vuln`), as Trivy writes it with `--format cosign-vuln`.
	VulnPredicateType = policy.VulnPredicateType
	// VerdictPredicateType is imageguard's own predicate: the whole
	// decision. The version is in the URI; a new layout gets a new URI.
	VerdictPredicateType = policy.VerdictPredicateType
)

const (
	// StatementType is the in-toto statement version written.
	StatementType = "https://in-toto.io/Statement/v1"
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// BundleMediaType is the Sigstore bundle version written, also the
	// referrer's artifactType and its layer's media type.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// Subject is what a statement is about: an image digest in a repository.
type Subject struct {
	// Name is the repository, e.g. "registry.example.com/team/api", as
	// cosign writes it.
	Name   string
	Digest v1.Hash
}

type statement struct {
	Type          string             `json:"_type"`
	Subject       []statementSubject `json:"subject"`
	PredicateType string             `json:"predicateType"`
	Predicate     any                `json:"predicate"`
}

type statementSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Statement is the in-toto statement (v1) of a predicate about subject.
func Statement(subject Subject, predicateType string, predicate any) ([]byte, error) {
	if subject.Digest.Algorithm == "" || subject.Digest.Hex == "" {
		return nil, errors.New("a statement needs the image digest")
	}
	if predicateType == "" {
		return nil, errors.New("a statement needs a predicate type")
	}
	return json.Marshal(statement{
		Type:          StatementType,
		Subject:       []statementSubject{{Name: subject.Name, Digest: map[string]string{subject.Digest.Algorithm: subject.Digest.Hex}}},
		PredicateType: predicateType,
		Predicate:     predicate,
	})
}
