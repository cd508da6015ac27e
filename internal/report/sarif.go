package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// SARIF constants: the schema GitHub code scanning expects, and the tool.
const (
	SARIFSchema      = "https://json.schemastore.org/sarif-2.1.0.json"
	SARIFVersion     = "2.1.0"
	ToolName         = "imageguard"
	ToolInfoURI      = "https://github.com/imageguard/terraform-provider-imageguard"
	FingerprintKey   = "imageguard/v1"
	sarifDefaultLine = 1
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
	Properties  sarifRunProps     `json:"properties"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool   `json:"executionSuccessful"`
	EndTimeUTC          string `json:"endTimeUtc"`
}

type sarifRunProps struct {
	SchemaVersion string  `json:"imageguardReport"`
	DB            *jsonDB `json:"vulnerabilityDb,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifHelp         `json:"help"`
	DefaultConfiguration sarifRuleConfig   `json:"defaultConfiguration"`
	Properties           sarifRuleProperty `json:"properties"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifRuleProperty struct {
	Tags      []string `json:"tags"`
	Precision string   `json:"precision"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          sarifResultProps  `json:"properties"`
}

type sarifResultProps struct {
	Image    string `json:"image"`
	Digest   string `json:"digest"`
	Platform string `json:"platform,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Package  string `json:"package,omitempty"`
	// Severity stays the finding's own (CVSS-based); exploitation data
	// goes beside it.
	Severity string `json:"severity"`
	KEV      *KEV   `json:"kev,omitempty"`
	EPSS     *EPSS  `json:"epss,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

// ruleInfo describes a rule for SARIF consumers.
type ruleInfo struct {
	name, short, full, help string
	tags                    []string
}

// ruleCatalog describes every rule imageguard reports.
var ruleCatalog = map[string]ruleInfo{
	"severity": {"Vulnerability", "Vulnerability at or above the severity threshold",
		"The image contains a package with a known vulnerability at or above the gate's severity threshold.",
		"Upgrade the package (often by rebuilding on a patched base image). For an accepted risk add an `ignore` block with a reason and an expiry; `ignore_unfixed = true` skips findings without a fix.",
		[]string{"security", "vulnerability"}},
	"secret": {"Secret", "Secret baked into the image",
		"A secret (key, token, password) was found in the image's files.",
		"Remove the secret from the image (files, env, build history), rotate it, and rebuild.",
		[]string{"security", "secret"}},
	policy.RuleOSUnsupported: {"OSUnsupported", "OS release without vulnerability data",
		"The vulnerability database has no advisories for the image's OS release (newer than the database, never covered, or an OS Trivy has no detector for), so its OS packages were not checked: no findings does not mean no vulnerabilities.",
		"Rebuild on a base image with an OS release the database covers; if the release is newer than the database, update the database or its mirror. For an accepted risk add `ignore { id = \"OS-UNSUPPORTED\" }` with a reason and an expiry.",
		[]string{"security", "vulnerability", "coverage"}},
	policy.RuleOSEOSL: {"OSEndOfLife", "OS release past its end of life",
		"The image's OS release is past its end of life: its distribution no longer publishes security fixes or advisories for it, so vulnerabilities found since are neither fixed nor reported.",
		"Update the base image to a supported release and rebuild. For an accepted risk add `ignore { id = \"OS-EOSL\" }` with a reason and an expiry.",
		[]string{"security", "vulnerability", "coverage", "maintenance"}},
	policy.RuleOSPackagesUnseen: {"OSPackagesUnseen", "OS detected but its package database is missing or empty",
		"An OS was detected in the image but no OS package was found: its package database (e.g. /lib/apk/db/installed, /var/lib/dpkg/status) was removed or emptied, so none of its OS packages could be checked.",
		"Keep the package database in the image. For an accepted risk add `ignore { id = \"OS-PACKAGES-UNSEEN\" }` with a reason and an expiry.",
		[]string{"security", "vulnerability", "coverage"}},
	policy.RuleUnscored: {"UnscoredVulnerability", "Vulnerability with no severity yet",
		"A vulnerability was found that no source has scored yet (severity UNKNOWN, often a new CVE), so the severity threshold cannot place it.",
		"Read the advisory; upgrade the package, or accept it with an `ignore` block (reason and expiry). `unknown_severity = \"warn\"` reports such findings without failing.",
		[]string{"security", "vulnerability"}},
	policy.RuleKnownExploited: {"KnownExploitedVulnerability", "Vulnerability listed in CISA's Known Exploited Vulnerabilities catalog",
		"The image contains a package with a vulnerability that CISA lists as exploited in the wild (KEV), whatever its severity.",
		"Upgrade the package before the KEV due date (often by rebuilding on a patched base image). An accepted risk needs an `ignore` block with a reason and an expiry, and still warns; `exploited { kev = \"warn\" }` reports without failing.",
		[]string{"security", "vulnerability", "exploited"}},
	policy.RuleEPSS: {"LikelyExploitedVulnerability", "Vulnerability with an EPSS score above the gate's bar",
		"The image contains a package with a vulnerability whose FIRST EPSS probability of exploitation is above `epss_above`.",
		"Upgrade the package. For an accepted risk add an `ignore` block with a reason and an expiry, or raise `epss_above`.",
		[]string{"security", "vulnerability", "exploited"}},
	"signature": {"Signature", "Signature or attestation did not verify",
		"No configured authority verified a signature (and the required attestations) for the image.",
		"Sign the image and attach the attestations with the authority's key or identity, or correct the authority.",
		[]string{"security", "supply-chain"}},
	policy.RuleTrustedRegistries: {"TrustedRegistries", "Image from an untrusted registry",
		"The image's registry/repository matches none of trusted_registries.",
		"Push or mirror the image to a trusted registry and reference it there, or add its registry/repository to trusted_registries.",
		[]string{"security", "supply-chain"}},
	policy.RuleRequireNonRoot: {"RequireNonRoot", "Image runs as root",
		"The image's USER is unset, root or uid 0.",
		"Add a non-root USER to the Dockerfile, e.g. `USER 65532:65532`.",
		[]string{"security", "configuration"}},
	policy.RuleRequiredLabels: {"RequiredLabels", "Required label missing or malformed",
		"A label that required_labels asks for is missing or does not match its regular expression.",
		"Set the label at build time (`LABEL` in the Dockerfile, or `--label`).",
		[]string{"configuration"}},
	policy.RuleForbiddenPorts: {"ForbiddenPorts", "Image exposes a forbidden port",
		"The image exposes a port that forbidden_ports lists.",
		"Remove the `EXPOSE` instruction and the service behind it.",
		[]string{"security", "configuration"}},
	policy.RuleAllowedPorts: {"AllowedPorts", "Image exposes a port that is not allowed",
		"The image exposes a port that allowed_ports does not list.",
		"Remove the `EXPOSE` instruction, or add the port to allowed_ports.",
		[]string{"security", "configuration"}},
	policy.RuleForbiddenPackages: {"ForbiddenPackages", "Image contains a forbidden package",
		"A package that forbidden_packages lists is installed in the image.",
		"Remove the package from the final image (multi-stage build, minimal base).",
		[]string{"security", "configuration"}},
	policy.RuleForbiddenPaths: {"ForbiddenPaths", "Image contains a forbidden path",
		"A path that forbidden_paths lists exists in the image's final filesystem.",
		"Delete the path in the build step that creates it, or use a multi-stage build.",
		[]string{"security", "configuration"}},
	policy.RuleMaxSize: {"MaxSize", "Image is too large",
		"The image's compressed size is above max_size.",
		"Shrink the image: smaller base, multi-stage build, no build tools or caches in the final stage.",
		[]string{"configuration"}},
	policy.RuleMaxLayers: {"MaxLayers", "Image has too many layers",
		"The image has more layers than max_layers.",
		"Combine RUN steps or use a multi-stage build.",
		[]string{"configuration"}},
	policy.RuleMaxImageAge: {"MaxImageAge", "Image is too old",
		"The image was built longer ago than max_image_age, or its creation time is unknown.",
		"Rebuild the image and deploy the new digest.",
		[]string{"security", "maintenance"}},
	policy.RuleAllowedBaseImages: {"AllowedBaseImages", "Image built on a base image that is not allowed",
		"The image's declared base image matches none of allowed_base_images, or it declares none.",
		"Rebuild FROM an approved base image, with the org.opencontainers.image.base.name and .base.digest annotations set.",
		[]string{"security", "supply-chain"}},
	policy.RuleLayerEncryption: {"LayerEncryption", "Layer encryption does not match the policy",
		"layer_encryption requires every layer encrypted, or forbids encrypted layers, and the image does not comply.",
		"Encrypt the layers with ocicrypt, or push an unencrypted image, as the policy requires.",
		[]string{"security", "configuration"}},
	policy.RuleSecretsInConfig: {"SecretsInConfig", "Secret in the image config",
		"The image config (environment, labels or build history) holds a secret.",
		"Use runtime secrets or `RUN --mount=type=secret` instead of ENV, ARG or --build-arg; rotate the secret and rebuild.",
		[]string{"security", "secret"}},
}

func describeRule(id string) sarifRule {
	info, ok := ruleCatalog[id]
	if !ok {
		info = ruleInfo{name: id, short: "imageguard rule " + id, full: "The image violates the imageguard rule " + id + ".",
			help: "See the violation's message for what was found and how to fix it.", tags: []string{"security"}}
	}
	return sarifRule{
		ID:                   id,
		Name:                 info.name,
		ShortDescription:     sarifText{Text: info.short},
		FullDescription:      sarifText{Text: info.full},
		Help:                 sarifHelp{Text: info.full + " " + info.help, Markdown: "**" + info.short + "**\n\n" + info.full + "\n\n" + info.help},
		DefaultConfiguration: sarifRuleConfig{Level: "error"},
		Properties:           sarifRuleProperty{Tags: append([]string{}, info.tags...), Precision: "very-high"},
	}
}

// SARIFLevel maps a severity to a SARIF level: CRITICAL and HIGH are
// errors, MEDIUM a warning, LOW and UNKNOWN notes.
func SARIFLevel(severity string) string {
	switch normalizeSeverity(severity) {
	case "CRITICAL", "HIGH":
		return "error"
	case "MEDIUM":
		return "warning"
	}
	return "note"
}

// SARIF renders the report's violations as a SARIF 2.1.0 log that GitHub
// code scanning accepts: one run of the "imageguard" driver, a rule per
// rule id that occurs (sorted), and a result per violation located at the
// image's digest-pinned reference, with a partial fingerprint over image
// name, rule, subject, package, target and platform so that alerts
// survive new digests. Suppressed violations are not results. The output
// is byte-for-byte the same for the same input.
func SARIF(r Report, toolVersion string) (string, error) {
	n := r.normalized()
	ruleIDs := map[string]bool{}
	for _, img := range n.Images {
		for _, v := range img.Violations {
			ruleIDs[v.Rule] = true
		}
	}
	ids := make([]string, 0, len(ruleIDs))
	for id := range ruleIDs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	index := map[string]int{}
	rules := []sarifRule{}
	for i, id := range ids {
		index[id] = i
		rules = append(rules, describeRule(id))
	}

	results := []sarifResult{}
	seen := map[string]int{}
	for _, img := range n.Images {
		uri := artifactURI(img.Ref, img.Digest)
		for _, v := range img.Violations {
			fp := fingerprint(img.Name, v)
			// Two violations alike in every fingerprinted field (e.g. two
			// signature authorities) still need distinct fingerprints.
			seen[fp]++
			if k := seen[fp]; k > 1 {
				fp = fingerprintOf(fp, fmt.Sprint(k))
			}
			results = append(results, sarifResult{
				RuleID:              v.Rule,
				RuleIndex:           index[v.Rule],
				Level:               SARIFLevel(v.Severity),
				Message:             sarifText{Text: resultMessage(img, v)},
				Locations:           []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}, Region: sarifRegion{StartLine: sarifDefaultLine}}}},
				PartialFingerprints: map[string]string{FingerprintKey: fp},
				Properties:          sarifResultProps{Image: img.Name, Digest: img.Digest, Platform: v.Platform, Subject: v.Subject, Package: v.Package, Severity: v.Severity, KEV: v.KEV, EPSS: v.EPSS},
			})
		}
	}

	run := sarifRun{
		Tool:        sarifTool{Driver: sarifDriver{Name: ToolName, InformationURI: ToolInfoURI, Version: toolVersion, Rules: rules}},
		Invocations: []sarifInvocation{{ExecutionSuccessful: true, EndTimeUTC: n.GeneratedAt.Format(time.RFC3339)}},
		Results:     results,
		Properties:  sarifRunProps{SchemaVersion: SchemaVersion},
	}
	if n.DB != nil {
		run.Properties.DB = &jsonDB{Version: n.DB.SchemaVersion, UpdatedAt: n.DB.UpdatedAt.UTC().Format(time.RFC3339), Source: n.DB.Source}
	}
	return encodeJSON(sarifLog{Schema: SARIFSchema, Version: SARIFVersion, Runs: []sarifRun{run}})
}

func resultMessage(img ImageResult, v Violation) string {
	var b strings.Builder
	b.WriteString(img.Ref)
	if img.Digest != "" && !strings.Contains(img.Ref, "@") {
		b.WriteString(" (" + img.Digest + ")")
	}
	if v.Platform != "" {
		b.WriteString(" [" + v.Platform + "]")
	}
	b.WriteString(": " + v.Found)
	if v.Requires != "" {
		b.WriteString(". Requires " + v.Requires)
	}
	if v.Fix != "" {
		b.WriteString(". Fix: " + v.Fix)
	}
	if out := b.String(); !strings.HasSuffix(out, ".") {
		return out + "."
	}
	return b.String()
}

// artifactURI is the image's digest-pinned reference as a relative URI:
// "registry.example.com/team/api@sha256:…". A first segment with a colon
// (a registry port) gets "./" so it is not read as a URI scheme (RFC 3986
// §4.2).
func artifactURI(ref, digest string) string {
	pinned := ref
	if digest != "" {
		name := ref
		if i := strings.Index(name, "@"); i >= 0 {
			name = name[:i]
		}
		if slash := strings.LastIndex(name, "/"); strings.LastIndex(name, ":") > slash {
			name = name[:strings.LastIndex(name, ":")] // drop the tag
		}
		pinned = name + "@" + digest
	}
	if pinned == "" {
		pinned = "image"
	}
	if first, _, _ := strings.Cut(pinned, "/"); strings.Contains(first, ":") {
		pinned = "./" + pinned
	}
	return pinned
}

func fingerprint(image string, v Violation) string {
	return fingerprintOf(image, v.Rule, v.Subject, v.Package, v.Target, v.Platform)
}

func fingerprintOf(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}
