package provider

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/report"
	"github.com/imageguard/terraform-provider-imageguard/internal/scan"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

// The conversion of a judgement into the two predicates' plain inputs.

// vulnInput is the vulnerability predicate's input: the reports the scan
// gate judged, less what it did not count.
func vulnInput(pv pendingVerdict, s attestationSettings) attest.VulnInput {
	sc := pv.j.Scan
	in := attest.VulnInput{
		Image:         pv.j.Pinned.String(),
		IgnoreUnfixed: s.Gates.Scan.Rules.IgnoreUnfixed,
		DB:            dbOf(sc.DB),
		TrivyVersion:  scan.TrivyVersion,
		StartedOn:     pv.started,
		FinishedOn:    pv.finished,
	}
	for _, r := range sc.Results {
		in.Platforms = append(in.Platforms, attest.PlatformScan{Platform: r.Platform, Digest: r.Digest, Report: r.Report})
	}
	for _, ig := range sc.Decision.Ignored {
		in.Omit = append(in.Omit, attest.Omission{ID: ig.ID, Package: ig.Package, Platform: ig.Platform, Reason: ig.Reason, Expires: ig.Expires})
	}
	return in
}

func dbOf(db scan.DBInfo) attest.DB {
	return attest.DB{SchemaVersion: db.Version, UpdatedAt: db.UpdatedAt, NextUpdate: db.NextUpdate, Source: db.Source}
}

// verdictOf is imageguard's verdict predicate for a judgement.
func verdictOf(pv pendingVerdict, s attestationSettings, providerVersion string) attest.Verdict {
	sc := pv.j.Scan
	db := dbOf(sc.DB)
	v := attest.Verdict{
		Image:     attest.Image{Name: pv.j.Pinned.String(), Digest: pv.j.Pinned.DigestStr()},
		JudgedAt:  pv.finished,
		StartedAt: pv.started,
		Provider:  attest.Tool{Name: "terraform-provider-imageguard", Version: providerVersion},
		Scanner:   attest.Tool{Name: "trivy", Version: scan.TrivyVersion},
		Database:  attest.Database{SchemaVersion: db.SchemaVersion, UpdatedAt: db.UpdatedAt.UTC(), NextUpdate: db.NextUpdate.UTC(), Source: db.Source, Version: db.Version()},
		Gates:     attest.Gates{Scan: scanGateOf(pv.j, s.Gates.Scan)},
	}
	for _, r := range sc.Results {
		v.Image.Platforms = append(v.Image.Platforms, attest.Platform{Platform: r.Platform, Digest: r.Digest})
	}
	if s.Gates.Verify != nil && pv.j.Verify != nil {
		v.Gates.Verify = verifyGateOf(pv.j.Verify, *s.Gates.Verify)
	}
	if s.Gates.Rules != nil && pv.j.Rules != nil {
		v.Gates.Policy = policyGateOf(pv.j.Rules, *s.Gates.Rules, s.Gates.RulesEnforcement)
	}
	return v
}

func scanGateOf(j *gate.Judgement, s scanSettings) attest.ScanGate {
	sc := j.Scan
	g := attest.ScanGate{
		Passed:      sc.Passed(),
		Enforcement: string(firstNonEmpty(s.Enforcement, report.EnforcementError)),
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

func verifyGateOf(o *gate.VerifyOutcome, s verifySettings) *attest.VerifyGate {
	g := &attest.VerifyGate{Passed: o.Passed(), Enforcement: string(firstNonEmpty(s.Enforcement, report.EnforcementError)),
		Settings: attest.VerifySettings{Require: "any", TLog: firstNonEmpty(s.Options.TLog, "required")}}
	if s.Rules.RequireAll {
		g.Settings.Require = "all"
	}
	for _, a := range s.Authorities {
		g.Settings.Authorities = append(g.Settings.Authorities, authorityOf(a))
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
	g.Settings.AttestationsOnly, g.Provenance = s.Rules.AttestationsOnly, provenanceVerdictOf(o.Provenance, s.Rules.Provenance)
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

// authorityOf names an authority by what identifies it, never by a secret.
func authorityOf(a verify.Authority) attest.Authority {
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
		out.Issuer = firstNonEmpty(a.Keyless.Issuer, a.Keyless.IssuerRegexp)
		out.Subject = firstNonEmpty(a.Keyless.Subject, a.Keyless.SubjectRegexp)
	case a.Notation != nil:
		out.Notation = notationOf(a.Notation)
	}
	return out
}

func policyGateOf(o *gate.RulesOutcome, r policy.Rules, enforcement report.Enforcement) *attest.PolicyGate {
	g := &attest.PolicyGate{Passed: len(o.Violations) == 0, Enforcement: string(firstNonEmpty(enforcement, report.EnforcementError)), Warnings: o.Warnings,
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
		g.Violations = append(g.Violations, attest.Violation{Rule: viol.Rule, Platform: viol.Platform, Message: violationLine(viol)})
	}
	return g
}

func defaulted(values []string, defaults ...string) []string {
	if len(values) == 0 {
		return defaults
	}
	out := append([]string(nil), values...)
	sort.Strings(out)
	return out
}

// verdictSummary is the `verdict` attribute of a judgement.
func verdictSummary(pv pendingVerdict, diags *diag.Diagnostics) types.Object {
	sc := pv.j.Scan
	ignored := len(sc.Decision.Ignored)
	for _, r := range sc.Results {
		ignored += len(r.Suppressed)
	}
	violations := len(sc.Decision.Violations)
	result := "passed"
	if pv.j.Verify != nil {
		violations += len(pv.j.Verify.Violations)
	}
	if pv.j.Rules != nil {
		violations += len(pv.j.Rules.Violations)
	}
	if violations > 0 {
		result = "passed-with-warnings"
	}
	obj, d := types.ObjectValue(verdictAttrTypes, map[string]attr.Value{
		"result":     types.StringValue(result),
		"db_version": types.StringValue(dbOf(sc.DB).Version()),
		"findings":   countsValue(report.SeverityCounts(sc.Findings())),
		"ignored":    types.Int64Value(int64(ignored)),
		"violations": types.Int64Value(int64(violations)),
	})
	diags.Append(d...)
	return obj
}

// verdictDB is the database a recorded verdict names, for messages.
func verdictDB(v types.Object) string {
	if v.IsNull() || v.IsUnknown() {
		return "unknown"
	}
	if s, ok := v.Attributes()["db_version"].(types.String); ok && s.ValueString() != "" {
		return s.ValueString()
	}
	return "unknown"
}
