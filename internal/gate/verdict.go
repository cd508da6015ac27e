package gate

import (
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"sort"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// A judgement as the two predicates imageguard_attestation signs: the
// cosign vulnerability predicate (Trivy's reports) and imageguard's verdict
// (every gate's settings and outcome). Both are built from the judgement
// and the gates it ran, so what is signed is what was judged.

// VulnInput is the vulnerability predicate's input: the reports the scan
// gate judged, less what it did not count. The scan gate must have run
// with ScanSettings.Reports.
func (j *Judgement) VulnInput(started, finished time.Time) attest.VulnInput {
	sc := j.Scan
	in := attest.VulnInput{
		Image:        j.Pinned.String(),
		DB:           sc.DB.DB,
		TrivyVersion: scan.TrivyVersion,
		StartedOn:    started,
		FinishedOn:   finished,
	}
	if g := j.Gates.Scan; g != nil {
		in.IgnoreUnfixed = g.Settings.Rules.IgnoreUnfixed
	}
	for _, r := range sc.Results {
		in.Platforms = append(in.Platforms, attest.PlatformScan{Platform: r.Platform, Digest: r.Digest, Report: r.Report})
	}
	for _, ig := range sc.Decision.Ignored {
		in.Omit = append(in.Omit, attest.Omission{ID: ig.ID, Package: ig.Package, Platform: ig.Platform, Reason: ig.Reason, Expires: ig.Expires})
	}
	return in
}

// Verdict is imageguard's verdict predicate for the judgement, judged
// between started and finished by providerVersion. The scan gate must
// have run.
func (j *Judgement) Verdict(started, finished time.Time, providerVersion string) attest.Verdict {
	sc := j.Scan
	db := sc.DB.DB
	v := attest.Verdict{
		Image:     attest.Image{Name: j.Pinned.String(), Digest: j.Pinned.DigestStr()},
		JudgedAt:  finished,
		StartedAt: started,
		Provider:  attest.Tool{Name: "terraform-provider-imageguard", Version: providerVersion},
		Scanner:   attest.Tool{Name: "trivy", Version: scan.TrivyVersion},
		Database:  attest.Database{SchemaVersion: db.SchemaVersion, UpdatedAt: db.UpdatedAt.UTC(), NextUpdate: db.NextUpdate.UTC(), Source: db.Source, Version: db.Version()},
	}
	if g := j.Gates.Scan; g != nil {
		v.Gates.Scan = scanGateOf(sc, *g)
	}
	for _, r := range sc.Results {
		v.Image.Platforms = append(v.Image.Platforms, attest.Platform{Platform: r.Platform, Digest: r.Digest})
	}
	if g := j.Gates.Verify; g != nil && j.Verify != nil {
		v.Gates.Verify = verifyGateOf(j.Verify, *g)
	}
	if g := j.Gates.Rules; g != nil && j.Rules != nil {
		v.Gates.Policy = policyGateOf(j.Rules, *g)
	}
	return v
}

// VerdictSummary is a signed verdict in brief: imageguard_attestation's
// `verdict` attribute.
type VerdictSummary struct {
	// Result is "passed", or "passed-with-warnings" when gates under
	// `enforcement = "warn"` found violations.
	Result    string
	DBVersion string
	// Findings counts the scan's findings by severity.
	Findings map[string]int64
	// Ignored counts findings not counted (ignore blocks, VEX statements).
	Ignored int
	// Violations counts every gate's violations.
	Violations int
}

// Summary is the judgement's verdict in brief. The scan gate must have run.
func (j *Judgement) Summary() VerdictSummary {
	sc := j.Scan
	s := VerdictSummary{Result: "passed", DBVersion: sc.DB.Version(), Findings: report.SeverityCounts(sc.Findings()),
		Ignored: len(sc.Decision.Ignored), Violations: len(sc.Decision.Violations)}
	for _, r := range sc.Results {
		s.Ignored += len(r.Suppressed)
	}
	if j.Verify != nil {
		s.Violations += len(j.Verify.Violations)
	}
	if j.Rules != nil {
		s.Violations += len(j.Rules.Violations)
	}
	if s.Violations > 0 {
		s.Result = "passed-with-warnings"
	}
	return s
}

func enforcementOf(e report.Enforcement) string {
	return string(cmp.Or(e, report.EnforcementError))
}

func scanGateOf(sc *ScanOutcome, gs ScanGate) attest.ScanGate {
	s := gs.Settings
	g := attest.ScanGate{
		Passed:      sc.Passed(),
		Enforcement: enforcementOf(gs.Enforcement),
		Settings: attest.ScanSettings{
			SeverityThreshold: s.Rules.Threshold.String(),
			IgnoreUnfixed:     s.Rules.IgnoreUnfixed,
			Scanners:          defaulted(s.Options.Scanners, scan.ScannerSecret, scan.ScannerVuln),
			PkgTypes:          defaulted(s.Options.PkgTypes, scan.PkgTypeLib, scan.PkgTypeOS),
			VEXDocuments:      len(s.VEX),
		},
		Counts: map[string]int{},
	}
	for _, ig := range s.Rules.Ignores {
		i := attest.Ignore{ID: ig.ID, Reason: ig.Reason, Packages: ig.Packages}
		if !ig.Expires.IsZero() {
			i.Expires = ig.Expires.Format(time.DateOnly)
		}
		g.Settings.Ignores = append(g.Settings.Ignores, i)
	}
	findings := sc.Findings()
	scan.SortFindings(findings)
	for sev, n := range report.SeverityCounts(findings) {
		g.Counts[sev] = int(n)
	}
	for _, f := range findings {
		g.Findings = append(g.Findings, attest.Finding{ID: f.ID, Severity: f.Severity, Package: f.Package, InstalledVersion: f.InstalledVersion,
			FixedVersion: f.FixedVersion, Status: f.Status, Target: f.Target, Platform: f.Platform, KEV: attest.KEVOf(f.KEV), EPSS: attest.EPSSOf(f.EPSS)})
	}
	for _, r := range sc.Results {
		for _, sec := range r.Secrets {
			g.Secrets = append(g.Secrets, attest.Secret{RuleID: sec.RuleID, Category: sec.Category, Severity: sec.Severity, Target: sec.Target, Line: sec.Line, Platform: sec.Platform})
		}
		for _, sup := range r.Suppressed {
			g.Ignored = append(g.Ignored, attest.Ignored{ID: sup.ID, Package: sup.Package, Platform: sup.Platform, Reason: sup.Reason})
		}
	}
	for _, ig := range sc.Decision.Ignored {
		g.Ignored = append(g.Ignored, attest.Ignored{ID: ig.ID, Package: ig.Package, Platform: ig.Platform, Reason: ig.Reason, KEV: attest.KEVOf(ig.KEV)})
	}
	for _, viol := range sc.Decision.Violations {
		g.Violations = append(g.Violations, attest.Violation{Rule: viol.Rule, Platform: viol.Platform, Message: report.Line(viol)})
	}
	g.Exploitation = attest.ExploitationOf(sc.Exploits, s.Rules.Exploited)
	return g
}

func verifyGateOf(o *VerifyOutcome, gv VerifyGate) *attest.VerifyGate {
	s := gv.Settings
	g := &attest.VerifyGate{Passed: o.Passed(), Enforcement: enforcementOf(gv.Enforcement),
		Settings: attest.VerifySettings{Require: "any", TLog: cmp.Or(gv.TLog, "required")}}
	if s.Rules.RequireAll {
		g.Settings.Require = "all"
	}
	for _, a := range s.Authorities {
		g.Settings.Authorities = append(g.Settings.Authorities, AuthorityOf(a))
	}
	for _, r := range s.Rules.Attestations {
		a := attest.AttestationRequired{PredicateType: r.PredicateType}
		if r.Condition != nil {
			a.Condition = r.Condition.Expr
		}
		if r.MaxAge > 0 {
			a.MaxAge = r.MaxAge.String()
		}
		g.Settings.Attestations = append(g.Settings.Attestations, a)
	}
	g.Settings.AttestationsOnly, g.Provenance = s.Rules.AttestationsOnly, ProvenanceVerdict(o.Provenance, s.Rules.Provenance)
	for _, res := range o.Results {
		for _, sig := range res.Signatures {
			out := attest.Signature{Authority: sig.Authority, KeyID: sig.KeyID, Issuer: sig.Issuer, Subject: sig.Subject, Location: sig.Location}
			if sig.Notation != nil {
				out.Format = "notation-" + sig.Notation.Envelope
			}
			if !sig.IntegratedTime.IsZero() {
				t := sig.IntegratedTime.UTC()
				out.IntegratedTime = &t
			}
			g.Signatures = append(g.Signatures, out)
		}
	}
	for _, viol := range o.Violations {
		g.Violations = append(g.Violations, attest.Violation{Rule: viol.Rule, Platform: viol.Platform, Message: viol.Found})
	}
	return g
}

// AuthorityOf names an authority in the verdict by what identifies it,
// never by a secret: a key by its fingerprint, a notation authority by its
// trust anchors' fingerprints.
func AuthorityOf(a verify.Authority) attest.Authority {
	out := attest.Authority{Name: a.Name}
	switch {
	case a.Key != nil && a.Key.KMSRef != "":
		out.KMS = a.Key.KMSRef
	case a.Key != nil:
		if b, _ := pem.Decode([]byte(a.Key.PublicKeyPEM)); b != nil {
			if _, err := x509.ParsePKIXPublicKey(b.Bytes); err == nil {
				sum := sha256.Sum256(b.Bytes)
				out.KeySHA256 = hex.EncodeToString(sum[:])
			}
		}
	case a.Keyless != nil:
		out.Issuer = cmp.Or(a.Keyless.Issuer, a.Keyless.IssuerRegexp)
		out.Subject = cmp.Or(a.Keyless.Subject, a.Keyless.SubjectRegexp)
	case a.Notation != nil:
		n := a.Notation
		out.Notation = &attest.NotationAuthority{TrustStoreType: n.TrustStoreType, TrustedIdentities: append([]string(nil), n.TrustedIdentities...),
			Revocation: n.Revocation, CertificatesSHA256: CertificateFingerprints(n.CertificatesPEM)}
		if n.TSACertificatesPEM != "" {
			out.Notation.TSACertificatesSHA256 = CertificateFingerprints(n.TSACertificatesPEM)
		}
	}
	return out
}

// CertificateFingerprints are the hex SHA-256 of each CERTIFICATE block's
// DER in pemText.
func CertificateFingerprints(pemText string) []string {
	out := []string{}
	rest := []byte(pemText)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" {
			sum := sha256.Sum256(b.Bytes)
			out = append(out, hex.EncodeToString(sum[:]))
		}
	}
}

// ProvenanceVerdict records the provenance requirement and the facts of
// what was accepted; nil without a provenance requirement.
func ProvenanceVerdict(found []ProvenanceFound, r *policy.ProvenanceRule) *attest.ProvenanceGate {
	if r == nil {
		return nil
	}
	g := &attest.ProvenanceGate{Settings: attest.ProvenanceSettings{SourceRepository: r.SourceRepository, SourceOwner: r.SourceOwner,
		SignerWorkflow: r.SignerWorkflow, SourceRef: r.SourceRef, DenySelfHostedRunners: r.DenySelfHostedRunners, PredicateType: r.PredicateType},
		Facts: []attest.ProvenanceFacts{}}
	if r.MaxAge > 0 {
		g.Settings.MaxAge = r.MaxAge.String()
	}
	for _, p := range found {
		f := p.Facts
		g.Facts = append(g.Facts, attest.ProvenanceFacts{Digest: p.Digest, Platform: p.Platform, Repository: f.Repository, Ref: f.Ref, Commit: f.Commit,
			Workflow: f.Workflow, Builder: f.Builder, RunnerEnvironment: f.RunnerEnvironment, Invocation: f.Invocation, Issuer: f.Issuer, BuildTime: f.BuildTime.UTC()})
	}
	return g
}

func policyGateOf(o *RulesOutcome, gr RulesGate) *attest.PolicyGate {
	r := gr.Rules
	g := &attest.PolicyGate{Passed: len(o.Violations) == 0, Enforcement: enforcementOf(gr.Enforcement), Warnings: o.Warnings,
		Settings: attest.PolicySettings{
			TrustedRegistries: r.TrustedRegistries, RequireNonRoot: r.RequireNonRoot, RequiredLabels: r.RequiredLabels,
			ForbiddenPorts: r.ForbiddenPorts, AllowedPorts: r.AllowedPorts, ForbiddenPackages: r.ForbiddenPackages, ForbiddenPaths: r.ForbiddenPaths,
			MaxSize: r.MaxSize, MaxLayers: r.MaxLayers, AllowedBaseImages: r.AllowedBaseImages, LayerEncryption: r.LayerEncryption, SecretsInConfig: r.SecretsInConfig,
		}}
	if r.MaxImageAge > 0 {
		g.Settings.MaxImageAge = r.MaxImageAge.String()
	}
	for _, e := range r.Exceptions {
		g.Exceptions = append(g.Exceptions, attest.Exception{Rule: e.Rule, Finding: e.Finding, Image: e.Image, Reason: e.Reason, Expires: e.Expires.Format(time.DateOnly), Owner: e.Owner})
	}
	for _, viol := range o.Violations {
		g.Violations = append(g.Violations, attest.Violation{Rule: viol.Rule, Platform: viol.Platform, Message: report.LineOf(viol)})
	}
	return g
}

// defaulted is values sorted, or the defaults they stand for when empty.
func defaulted(values []string, defaults ...string) []string {
	if len(values) == 0 {
		return defaults
	}
	out := append([]string(nil), values...)
	sort.Strings(out)
	return out
}
