package gate

import (
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/exploit"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// The domain vocabulary the Terraform surface reads settings into and
// outcomes out of. These are the domain packages' own types and
// constants, named here so that the surface depends on gate alone
// (depguard holds it to that): a gate's settings and outcomes are its API.

// References.
type (
	// Reference is an image reference parsed offline.
	Reference = registry.Reference
	// Resolved is a reference resolved to its manifest or index.
	Resolved = registry.Resolved
)

// ParseReference parses a reference without any registry request (a
// missing tag means "latest", as docker reads it).
func ParseReference(s string) (Reference, error) { return registry.ParseReference(s) }

// ParseDigest accepts exactly a sha256 digest, the only algorithm
// registries and runtimes pin by.
var ParseDigest = registry.ParseDigest

// RegistrySummary is the diagnostic summary of a registry failure ("Image
// not found", "Registry unreachable", …).
func RegistrySummary(err error) string { return registry.KindOf(err).Summary() }

// Scan settings.
type ScanOptions = scan.Options

// The scanners and package types a scan gate can be narrowed to.
const (
	ScannerVuln   = scan.ScannerVuln
	ScannerSecret = scan.ScannerSecret
	PkgTypeOS     = scan.PkgTypeOS
	PkgTypeLib    = scan.PkgTypeLib
)

// Verify settings.
type (
	Authority          = verify.Authority
	KeyAuthority       = verify.KeyAuthority
	KeylessAuthority   = verify.KeylessAuthority
	NotationAuthority  = verify.NotationAuthority
	AttestationRequest = verify.AttestationRequest
	VerifyOptions      = verify.Options
	// AuthorityResult is what one authority found on one manifest.
	AuthorityResult = verify.AuthorityResult
	Provenance      = verify.Provenance
)

// ProvenancePredicateType is SLSA provenance v1, what GitHub attests.
const ProvenancePredicateType = verify.ProvenancePredicateType

var (
	// ValidateAuthority checks an authority's trust material offline.
	ValidateAuthority = verify.ValidateAuthority
	// ValidateProvenance checks a provenance requirement offline.
	ValidateProvenance = verify.ValidateProvenance
	// PredicateTypeURI expands a cosign predicate type name to its URI.
	PredicateTypeURI = verify.PredicateTypeURI
)

// Attestations.
type (
	SignerOptions = attest.SignerOptions
	KeylessSigner = attest.Keyless
	// Attached is one attestation attached to a subject.
	Attached = attest.Attached
)

// The predicate types imageguard_attestation signs.
const (
	VulnPredicateType    = attest.VulnPredicateType
	VerdictPredicateType = attest.VerdictPredicateType
)

// AttestationStore is where a repository's attestations are read and
// written, with the registry client's credentials and transport.
func AttestationStore(reg *registry.Client, repo name.Repository) attest.Store {
	return attest.Store{Repository: repo, Options: reg.RemoteOptions()}
}

// SortFindings orders findings as every output lists them: by severity,
// then ID, package and platform.
var SortFindings = scan.SortFindings

// Offline checks of input, for the schema's validators.
var (
	// ParsePlatform parses `os/arch[/variant]`.
	ParsePlatform = registry.ParsePlatform
	// CompileTagFilter compiles a tag filter, anchored to match whole tags.
	CompileTagFilter = registry.CompileTagFilter
	// IsLoopback reports whether a host[:port] is a loopback address,
	// the only place plain HTTP is accepted.
	IsLoopback = registry.IsLoopback
	// CheckExploitSource accepts a file path, an https URL or an OCI
	// reference as a source of exploitation data.
	CheckExploitSource = exploit.CheckSource
)
