package attest

import (
	"sort"
	"time"
)

// Verdict is imageguard's own predicate (VerdictPredicateType): the whole
// decision the gates made on one digest, for audit. Field names are part
// of the predicate's version: a change of meaning gets a new predicate
// type URI. Secrets are named by rule, file and line, never by their text.
type Verdict struct {
	// Result is "passed", or "passed-with-warnings" when a gate under
	// enforcement = "warn" found violations (they are listed in the gate).
	Result string `json:"result"`
	// Enforcement is "error" when every gate that ran could fail the plan
	// (enforcement = "error"), else "warn": at least one gate ran in audit
	// mode and could not have stopped this image, whatever it found. An
	// admission policy that trusts only enforcing verdicts requires
	// enforcement == "error".
	Enforcement string `json:"enforcement"`
	Image       Image  `json:"image"`
	// JudgedAt is when the gates finished judging: the verdict's time, which
	// imageguard_verify's max_age reads.
	JudgedAt  time.Time `json:"judgedAt"`
	StartedAt time.Time `json:"startedAt"`
	Provider  Tool      `json:"provider"`
	Scanner   Tool      `json:"scanner"`
	Database  Database  `json:"database"`
	Gates     Gates     `json:"gates"`
}

// Image is what was judged.
type Image struct {
	// Name is the digest-pinned reference.
	Name   string `json:"name"`
	Digest string `json:"digest"`
	// Platforms are the platform manifests judged (one for a single image).
	Platforms []Platform `json:"platforms"`
}

// Platform is one platform manifest judged.
type Platform struct {
	Platform string `json:"platform,omitempty"`
	Digest   string `json:"digest"`
}

// Tool names a program and its version.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Database is the vulnerability database judged against.
type Database struct {
	SchemaVersion int       `json:"schemaVersion"`
	UpdatedAt     time.Time `json:"updatedAt"`
	NextUpdate    time.Time `json:"nextUpdate"`
	Source        string    `json:"source,omitempty"`
	// Version is `<schema version>@<updatedAt>`, as imageguard_pin records it.
	Version string `json:"version"`
}

// Gates are the gates that ran; verify and policy only when configured.
type Gates struct {
	Scan   ScanGate    `json:"scan"`
	Verify *VerifyGate `json:"verify,omitempty"`
	Policy *PolicyGate `json:"policy,omitempty"`
}

// ScanGate is the scan gate's decision.
type ScanGate struct {
	Passed      bool         `json:"passed"`
	Enforcement string       `json:"enforcement"`
	Settings    ScanSettings `json:"settings"`
	// Counts are findings per severity, before ignores.
	Counts   map[string]int `json:"counts"`
	Findings []Finding      `json:"findings"`
	Secrets  []Secret       `json:"secrets"`
	// Ignored are the findings not counted, each with the reason (an
	// ignore with its expiry, ignore_unfixed, a VEX statement).
	Ignored    []Ignored   `json:"ignored"`
	Violations []Violation `json:"violations"`
	// Exploitation is the KEV and EPSS data findings were judged with;
	// absent without any.
	Exploitation *Exploitation `json:"exploitation,omitempty"`
}

// ScanSettings are the scan gate's settings.
type ScanSettings struct {
	SeverityThreshold string   `json:"severityThreshold"`
	IgnoreUnfixed     bool     `json:"ignoreUnfixed"`
	Scanners          []string `json:"scanners"`
	PkgTypes          []string `json:"pkgTypes"`
	// VEXDocuments counts the VEX documents applied.
	VEXDocuments int      `json:"vexDocuments"`
	Ignores      []Ignore `json:"ignores"`
}

// Ignore is a configured accepted risk.
type Ignore struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	// Expires is the last day it applies, YYYY-MM-DD; empty means never.
	Expires  string   `json:"expires,omitempty"`
	Packages []string `json:"packages,omitempty"`
}

// Finding is one vulnerability found.
type Finding struct {
	ID               string `json:"id"`
	Severity         string `json:"severity"`
	Package          string `json:"package"`
	InstalledVersion string `json:"installedVersion"`
	FixedVersion     string `json:"fixedVersion,omitempty"`
	Status           string `json:"status,omitempty"`
	Target           string `json:"target,omitempty"`
	Platform         string `json:"platform,omitempty"`
	// KEV is set when CISA lists the vulnerability as known exploited;
	// EPSS when FIRST scores it.
	KEV  *KEV  `json:"kev,omitempty"`
	EPSS *EPSS `json:"epss,omitempty"`
}

// Secret is one secret found: where, never what.
type Secret struct {
	RuleID   string `json:"ruleId"`
	Category string `json:"category,omitempty"`
	Severity string `json:"severity"`
	Target   string `json:"target"`
	Line     int    `json:"line"`
	Platform string `json:"platform,omitempty"`
}

// Ignored is a finding a gate did not count, and why.
type Ignored struct {
	ID       string `json:"id"`
	Package  string `json:"package,omitempty"`
	Platform string `json:"platform,omitempty"`
	Reason   string `json:"reason"`
	// KEV is set when the finding accepted is listed as known exploited:
	// the verdict records that an exploited flaw was accepted.
	KEV *KEV `json:"kev,omitempty"`
}

// Violation is one violation a gate under enforcement = "warn" let pass.
type Violation struct {
	Rule     string `json:"rule"`
	Platform string `json:"platform,omitempty"`
	Message  string `json:"message"`
}

// VerifyGate is the signature gate's decision.
type VerifyGate struct {
	Passed      bool           `json:"passed"`
	Enforcement string         `json:"enforcement"`
	Settings    VerifySettings `json:"settings"`
	Signatures  []Signature    `json:"signatures"`
	Violations  []Violation    `json:"violations"`
	// Provenance is set when a provenance block was judged.
	Provenance *ProvenanceGate `json:"provenance,omitempty"`
}

// VerifySettings are the signature gate's settings.
type VerifySettings struct {
	Require      string                `json:"require"`
	TLog         string                `json:"tlog"`
	Authorities  []Authority           `json:"authorities"`
	Attestations []AttestationRequired `json:"attestations"`
	// AttestationsOnly: authorities needed no image signature
	// (require_signature = false).
	AttestationsOnly bool `json:"attestationsOnly,omitempty"`
}

// Authority is who may sign: a key (by fingerprint or KMS reference) or a
// keyless identity.
type Authority struct {
	Name string `json:"name"`
	// KeySHA256 is the hex SHA-256 of the DER public key.
	KeySHA256 string `json:"keySha256,omitempty"`
	KMS       string `json:"kms,omitempty"`
	Issuer    string `json:"issuer,omitempty"`
	Subject   string `json:"subject,omitempty"`
	// Notation is set for a Notary Project authority.
	Notation *NotationAuthority `json:"notation,omitempty"`
}

// NotationAuthority is a Notary Project trust policy, by what identifies
// it: its trust anchors' fingerprints, the identities it pins, the
// timestamp roots and the revocation setting.
type NotationAuthority struct {
	TrustStoreType string `json:"trustStoreType"`
	// CertificatesSHA256 are the hex SHA-256 fingerprints of the trust
	// anchors (DER), TSACertificatesSHA256 those of the timestamp roots.
	CertificatesSHA256    []string `json:"certificatesSha256"`
	TrustedIdentities     []string `json:"trustedIdentities"`
	TSACertificatesSHA256 []string `json:"tsaCertificatesSha256,omitempty"`
	Revocation            string   `json:"revocation"`
}

// AttestationRequired is an attestation the signature gate required.
type AttestationRequired struct {
	PredicateType string `json:"predicateType"`
	Condition     string `json:"condition,omitempty"`
	MaxAge        string `json:"maxAge,omitempty"`
}

// Signature is a verified signature.
type Signature struct {
	Authority      string     `json:"authority"`
	KeyID          string     `json:"keyId,omitempty"`
	Issuer         string     `json:"issuer,omitempty"`
	Subject        string     `json:"subject,omitempty"`
	Location       string     `json:"location"`
	IntegratedTime *time.Time `json:"integratedTime,omitempty"`
	// Format is "notation-jws" or "notation-cose" for a Notary Project
	// signature; empty for cosign's.
	Format string `json:"format,omitempty"`
}

// PolicyGate is the hardening rules' decision.
type PolicyGate struct {
	Passed      bool           `json:"passed"`
	Enforcement string         `json:"enforcement"`
	Settings    PolicySettings `json:"settings"`
	Exceptions  []Exception    `json:"exceptions"`
	Violations  []Violation    `json:"violations"`
	Warnings    []string       `json:"warnings"`
}

// PolicySettings are the hardening rules configured (policy.Rules).
type PolicySettings struct {
	TrustedRegistries []string          `json:"trustedRegistries,omitempty"`
	RequireNonRoot    bool              `json:"requireNonRoot,omitempty"`
	RequiredLabels    map[string]string `json:"requiredLabels,omitempty"`
	ForbiddenPorts    []string          `json:"forbiddenPorts,omitempty"`
	AllowedPorts      []string          `json:"allowedPorts,omitempty"`
	ForbiddenPackages []string          `json:"forbiddenPackages,omitempty"`
	ForbiddenPaths    []string          `json:"forbiddenPaths,omitempty"`
	MaxSize           int64             `json:"maxSize,omitempty"`
	MaxLayers         int               `json:"maxLayers,omitempty"`
	MaxImageAge       string            `json:"maxImageAge,omitempty"`
	AllowedBaseImages []string          `json:"allowedBaseImages,omitempty"`
	LayerEncryption   string            `json:"layerEncryption,omitempty"`
	SecretsInConfig   bool              `json:"secretsInConfig,omitempty"`
}

// Exception is a configured accepted violation of a hardening rule.
type Exception struct {
	Rule    string `json:"rule"`
	Finding string `json:"finding,omitempty"`
	Image   string `json:"image,omitempty"`
	Reason  string `json:"reason"`
	Expires string `json:"expires"`
	Owner   string `json:"owner,omitempty"`
}

// Normalize sorts every list and replaces nil lists with empty ones, so the
// same decision always gives the same predicate bytes.
func (v *Verdict) Normalize() {
	v.Result = "passed"
	g := &v.Gates
	nonNil(&g.Scan.Findings)
	nonNil(&g.Scan.Secrets)
	nonNil(&g.Scan.Ignored)
	nonNil(&g.Scan.Violations)
	nonNil(&g.Scan.Settings.Scanners)
	nonNil(&g.Scan.Settings.PkgTypes)
	nonNil(&g.Scan.Settings.Ignores)
	nonNil(&v.Image.Platforms)
	if g.Scan.Counts == nil {
		g.Scan.Counts = map[string]int{}
	}
	sort.SliceStable(g.Scan.Ignored, func(i, j int) bool {
		a, b := g.Scan.Ignored[i], g.Scan.Ignored[j]
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		return a.Platform < b.Platform
	})
	warned := len(g.Scan.Violations) > 0
	if g.Verify != nil {
		nonNil(&g.Verify.Signatures)
		nonNil(&g.Verify.Violations)
		nonNil(&g.Verify.Settings.Authorities)
		nonNil(&g.Verify.Settings.Attestations)
		warned = warned || len(g.Verify.Violations) > 0
	}
	if g.Policy != nil {
		nonNil(&g.Policy.Exceptions)
		nonNil(&g.Policy.Violations)
		nonNil(&g.Policy.Warnings)
		sort.Strings(g.Policy.Warnings)
		warned = warned || len(g.Policy.Violations) > 0
	}
	for _, vs := range [][]Violation{g.Scan.Violations, violationsOf(g.Verify), policyViolationsOf(g.Policy)} {
		sort.SliceStable(vs, func(i, j int) bool {
			if vs[i].Rule != vs[j].Rule {
				return vs[i].Rule < vs[j].Rule
			}
			if vs[i].Platform != vs[j].Platform {
				return vs[i].Platform < vs[j].Platform
			}
			return vs[i].Message < vs[j].Message
		})
	}
	if warned {
		v.Result = "passed-with-warnings"
	}
	ran := []string{g.Scan.Enforcement}
	if g.Verify != nil {
		ran = append(ran, g.Verify.Enforcement)
	}
	if g.Policy != nil {
		ran = append(ran, g.Policy.Enforcement)
	}
	v.Enforcement = "error"
	for _, e := range ran {
		if e != "error" {
			v.Enforcement = "warn"
		}
	}
}

func violationsOf(g *VerifyGate) []Violation {
	if g == nil {
		return nil
	}
	return g.Violations
}

func policyViolationsOf(g *PolicyGate) []Violation {
	if g == nil {
		return nil
	}
	return g.Violations
}

func nonNil[T any](s *[]T) {
	if *s == nil {
		*s = []T{}
	}
}
