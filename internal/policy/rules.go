package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rule ids of the configuration rules judged by EvaluateRules. They are the
// names of the rules' attributes in HCL, and what exceptions and reports
// name.
const (
	RuleTrustedRegistries = "trusted_registries"
	RuleRequireNonRoot    = "require_non_root"
	RuleRequiredLabels    = "required_labels"
	RuleForbiddenPorts    = "forbidden_ports"
	RuleAllowedPorts      = "allowed_ports"
	RuleForbiddenPackages = "forbidden_packages"
	RuleForbiddenPaths    = "forbidden_paths"
	RuleMaxSize           = "max_size"
	RuleMaxLayers         = "max_layers"
	RuleMaxImageAge       = "max_image_age"
	RuleAllowedBaseImages = "allowed_base_images"
	RuleLayerEncryption   = "layer_encryption"
	RuleSecretsInConfig   = "secrets_in_config"
)

// RuleIDs lists the configuration rules, sorted.
var RuleIDs = []string{
	RuleAllowedBaseImages,
	RuleAllowedPorts,
	RuleForbiddenPackages,
	RuleForbiddenPaths,
	RuleForbiddenPorts,
	RuleLayerEncryption,
	RuleMaxImageAge,
	RuleMaxLayers,
	RuleMaxSize,
	RuleRequireNonRoot,
	RuleRequiredLabels,
	RuleSecretsInConfig,
	RuleTrustedRegistries,
}

// Layer encryption settings.
const (
	LayerEncryptionAllow   = "allow"
	LayerEncryptionRequire = "require"
	LayerEncryptionForbid  = "forbid"
)

// Annotation (or label) keys that declare an image's base image.
const (
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// ImageFacts is what the configuration rules judge about one platform image.
// The provider fills it from the registry (manifest, config, file listing)
// and the scanner (packages, config secrets).
type ImageFacts struct {
	// Name is the image's name in the configuration (e.g. the key of
	// imageguard_policy's images map); may be empty.
	Name string
	// Ref is the reference as the user wrote it.
	Ref string
	// Registry is the registry host, e.g. "registry.example.com";
	// "index.docker.io" and "docker.io" are the same.
	Registry string
	// Repository is the repository path, e.g. "team/api" (a value that
	// already starts with Registry + "/" is accepted too).
	Repository string
	// Digest is the platform manifest's digest.
	Digest   string
	Platform string

	// User is the config's USER, as written (runtimes do not trim it).
	User string
	// Passwd and Group are the final filesystem's /etc/passwd and
	// /etc/group, read only when require_non_root must resolve a name in
	// User (see NeedsAccountFiles); nil when not read.
	Passwd      *AccountFile
	Group       *AccountFile
	Labels      map[string]string
	Annotations map[string]string
	// ExposedPorts are the config's exposed ports, e.g. "22/tcp"; a port
	// without a protocol is tcp, as Docker reads it.
	ExposedPorts []string
	// Env is the config's environment, NAME=value. Values are only looked
	// at for secrets and are never echoed.
	Env []string
	// History holds the created_by command of each history entry.
	History []string
	Created time.Time
	// Size is the sum of the compressed layer sizes.
	Size            int64
	Layers          int
	LayerMediaTypes []string
	// FilesPresent says, for each path asked for by forbidden_paths, whether
	// it exists in the final filesystem (after whiteouts).
	FilesPresent map[string]bool
	Packages     []PackageFact
	// BaseName and BaseDigest come from the org.opencontainers.image.base.name
	// and .base.digest annotations, or labels of the same names.
	BaseName   string
	BaseDigest string
	// ConfigSecrets are secrets Trivy found in the image config (env,
	// history); never their text.
	ConfigSecrets []Secret
}

// PackageFact is one installed package.
type PackageFact struct {
	Name    string
	Version string
	// Type is Trivy's package type, e.g. "apk", "debian", "npm", "jar".
	Type string
}

// Rules are the configuration rules. A zero value turns a rule off.
type Rules struct {
	// TrustedRegistries: the image's registry/repository must match one
	// entry. An entry without "*" is a prefix that ends at a path boundary:
	// "registry.example.com" matches "registry.example.com/team/api" but not
	// "registry.example.com.evil.io/api" nor "registry.example.com:5000/api";
	// "registry.example.com/team" matches "registry.example.com/team/api" but
	// not "registry.example.com/teamx/api". An entry with "*" is a glob over
	// the whole name: "*" matches within one path segment, "**" across
	// segments ("*.example.com/**").
	TrustedRegistries []string
	// RequireNonRoot: USER must run as a non-zero uid, read as containerd
	// and runc read it (see ResolveUser). Unset, "root", "0", "+0", "00",
	// ":1000" and any "root:<group>" or "0:<group>" fail; a name is
	// resolved through the image's final /etc/passwd, and one that does
	// not resolve (no file, not listed) fails: it cannot be vouched for.
	// "1000:0" passes (the uid is what matters; group 0 grants no root
	// privileges by itself).
	RequireNonRoot bool
	// RequiredLabels maps a label to an RE2 regexp its value must match. As
	// with Go's regexp the match is unanchored ("v1" matches "xv1y"): anchor
	// with ^ and $ to match the whole value. An empty regexp only requires
	// the label. A manifest annotation of the same key counts as the label
	// when the config has no such label.
	RequiredLabels map[string]string
	// ForbiddenPorts: no exposed port may match. "22" matches 22 over any
	// protocol, "22/tcp" only tcp; ranges "8000-8100" and "8000-8100/udp".
	ForbiddenPorts []string
	// AllowedPorts: when not empty, every exposed port must match one entry
	// (same syntax as ForbiddenPorts). Empty means the rule is off; to forbid
	// every port use ForbiddenPorts = ["1-65535"].
	AllowedPorts []string
	// ForbiddenPackages: no installed package whose name matches an entry
	// (case-insensitive; "*" matches any run of characters, e.g. "python3*").
	ForbiddenPackages []string
	// ForbiddenPaths: none of these paths may exist in the final filesystem
	// ("/root/.ssh", "/usr/bin/curl"). A directory exists when it or anything
	// under it does. Whiteouts in later layers count as deletion.
	ForbiddenPaths []string
	// MaxSize is the largest allowed compressed size in bytes; 0 is off.
	MaxSize int64
	// MaxLayers is the largest allowed number of layers; 0 is off.
	MaxLayers int
	// MaxImageAge is the oldest allowed image (now - created); 0 is off. An
	// unset or epoch creation time fails: the age cannot be judged.
	MaxImageAge time.Duration
	// AllowedBaseImages: the declared base image must match one entry. The
	// name part matches like TrustedRegistries (prefixes may also end before
	// a tag: "docker.io/library/alpine" matches "docker.io/library/alpine:3.20",
	// "…/alpine:3.20" does not match "…/alpine:3.20.1"); Docker Hub short names
	// ("alpine:3.20") are expanded in entries without "*". An entry with
	// "@sha256:…" also requires exactly that base digest. An image that
	// declares no base image fails.
	AllowedBaseImages []string
	// LayerEncryption is "require" (every layer encrypted), "forbid" (no
	// layer encrypted: encrypted layers cannot be scanned) or "allow" (the
	// default, also "").
	LayerEncryption string
	// SecretsInConfig: no secrets in the image config: what Trivy found
	// (ConfigSecrets), secret-named environment variables with a value,
	// well-known token formats in env values and history, and secret-named
	// NAME=value assignments (build args) in history.
	SecretsInConfig bool
	// Exceptions accept violations for a while.
	Exceptions []Exception
}

// EvaluateRules judges one platform image's facts against the configuration
// rules at time now. Violations are sorted by rule, subject and text;
// excepted holds the violations an exception accepted; warnings name
// expired or malformed exceptions that matched a violation. Rules that are
// malformed (see ValidateRules) fail closed: they produce violations, never
// passes.
func EvaluateRules(facts ImageFacts, rules Rules, now time.Time) (violations []Violation, excepted []Suppression, warnings []string) {
	image := facts.Ref
	if image == "" {
		image = facts.Name
	}
	if image == "" {
		image = facts.repositoryName()
	}
	var found []Violation
	add := func(v Violation) {
		v.Image = image
		v.Digest = facts.Digest
		v.Platform = facts.Platform
		found = append(found, v)
	}
	checkTrustedRegistries(facts, rules, add)
	checkNonRoot(facts, rules, add)
	checkRequiredLabels(facts, rules, add)
	checkPorts(facts, rules, add)
	checkPackages(facts, rules, add)
	checkPaths(facts, rules, add)
	checkSize(facts, rules, add)
	checkAge(facts, rules, now, add)
	checkBaseImage(facts, rules, add)
	checkLayerEncryption(facts, rules, add)
	checkConfigSecrets(facts, rules, add)

	warned := map[int]bool{}
	warn := func(i int, msg string) {
		if !warned[i] {
			warned[i] = true
			warnings = append(warnings, msg)
		}
	}
	for _, v := range found {
		accepted := false
		for i, e := range rules.Exceptions {
			if !e.matches(v, facts) {
				continue
			}
			if err := e.Validate(); err != nil {
				warn(i, fmt.Sprintf("exceptions[%d] does not apply: %v.", i, err))
				continue
			}
			if e.expired(now) {
				warn(i, fmt.Sprintf("The exception for %s, owned by %s, expired on %s and no longer applies (reason was: %q). Fix the violation, or renew the exception with a new `expires` if the reason still holds.",
					e.describe(), ownerOf(e), e.Expires.Format("2006-01-02"), e.Reason))
				continue
			}
			reason := fmt.Sprintf("exception: %s (until %s, owner %s)", e.Reason, e.Expires.Format("2006-01-02"), ownerOf(e))
			excepted = append(excepted, Suppression{ID: v.Rule, Package: v.Subject, Platform: v.Platform, Reason: reason, Rule: v.Rule, Subject: v.Subject})
			accepted = true
			break
		}
		if !accepted {
			violations = append(violations, v)
		}
	}
	sortRuleViolations(violations)
	sort.SliceStable(excepted, func(i, j int) bool {
		a, b := excepted[i], excepted[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		return a.Platform < b.Platform
	})
	return violations, excepted, warnings
}

func ownerOf(e Exception) string {
	if strings.TrimSpace(e.Owner) == "" {
		return "no one (no owner set)"
	}
	return e.Owner
}

func sortRuleViolations(v []Violation) {
	sort.SliceStable(v, func(i, j int) bool {
		a, b := v[i], v[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		if a.Found != b.Found {
			return a.Found < b.Found
		}
		return a.Platform < b.Platform
	})
}

// ---- validation ----

// RuleField is the setting a RuleError concerns: Name is the attribute,
// Index the list element (-1 for none) and Key the map key.
type RuleField struct {
	Name  string
	Index int
	Key   string
}

// RuleError is one malformed rule setting; its text names the setting too.
type RuleError struct {
	Field RuleField
	Err   error
}

func (e *RuleError) Error() string { return e.Err.Error() }

func (e *RuleError) Unwrap() error { return e.Err }

// ValidateRules reports malformed settings, each error naming its
// attribute (e.g. `trusted_registries[1]: "https://r.example.com" has a URL
// scheme…`), in attribute order. EvaluateRules fails closed on them, so the
// provider should report these as configuration errors first.
func ValidateRules(r Rules) []*RuleError {
	var errs []*RuleError
	bad := func(at RuleField, format string, a ...any) {
		errs = append(errs, &RuleError{Field: at, Err: fmt.Errorf(format, a...)})
	}
	for i, raw := range r.TrustedRegistries {
		if _, err := compileNamePattern(raw, false); err != nil {
			bad(RuleField{Name: "trusted_registries", Index: i}, "trusted_registries[%d]: %v", i, err)
			continue
		}
		s := strings.TrimSpace(raw)
		_, path, _ := strings.Cut(s, "/")
		switch {
		case strings.Contains(s, "@"):
			bad(RuleField{Name: "trusted_registries", Index: i}, "trusted_registries[%d]: %q names a digest; entries match registry/repository (e.g. \"registry.example.com/team/\")", i, raw)
		case strings.Contains(path, ":"):
			bad(RuleField{Name: "trusted_registries", Index: i}, "trusted_registries[%d]: %q names a tag; entries match registry/repository (e.g. \"registry.example.com/team/\")", i, raw)
		case path != strings.ToLower(path):
			bad(RuleField{Name: "trusted_registries", Index: i}, "trusted_registries[%d]: %q has upper-case letters in the repository path; repository names are lower-case", i, raw)
		}
	}
	labels := make([]string, 0, len(r.RequiredLabels))
	for k := range r.RequiredLabels {
		labels = append(labels, k)
	}
	sort.Strings(labels)
	for _, k := range labels {
		if strings.TrimSpace(k) == "" {
			bad(RuleField{Name: "required_labels", Index: -1}, "required_labels: a label name is empty")
			continue
		}
		if _, err := regexp.Compile(r.RequiredLabels[k]); err != nil {
			bad(RuleField{Name: "required_labels", Index: -1, Key: k}, "required_labels[%q]: the regexp %q does not compile: %v", k, r.RequiredLabels[k], err)
		}
	}
	for i, p := range r.ForbiddenPorts {
		if _, err := parsePortPattern(p); err != nil {
			bad(RuleField{Name: "forbidden_ports", Index: i}, "forbidden_ports[%d]: %v", i, err)
		}
	}
	for i, p := range r.AllowedPorts {
		if _, err := parsePortPattern(p); err != nil {
			bad(RuleField{Name: "allowed_ports", Index: i}, "allowed_ports[%d]: %v", i, err)
		}
	}
	for i, p := range r.ForbiddenPackages {
		if _, err := compilePackagePattern(p); err != nil {
			bad(RuleField{Name: "forbidden_packages", Index: i}, "forbidden_packages[%d]: %v", i, err)
		}
	}
	for i, p := range r.ForbiddenPaths {
		s := strings.TrimSpace(p)
		switch {
		case s == "":
			bad(RuleField{Name: "forbidden_paths", Index: i}, "forbidden_paths[%d]: is empty", i)
		case strings.ContainsAny(s, "*?["):
			bad(RuleField{Name: "forbidden_paths", Index: i}, "forbidden_paths[%d]: %q has a wildcard; give exact paths such as \"/root/.ssh\"", i, p)
		case cleanPath(s) == "/":
			bad(RuleField{Name: "forbidden_paths", Index: i}, "forbidden_paths[%d]: %q is the root directory, which every image has", i, p)
		case containsDotDot(s):
			bad(RuleField{Name: "forbidden_paths", Index: i}, "forbidden_paths[%d]: %q has a \"..\" segment; give the path it means", i, p)
		}
	}
	if r.MaxSize < 0 {
		bad(RuleField{Name: "max_size", Index: -1}, "max_size: %d is negative", r.MaxSize)
	}
	if r.MaxLayers < 0 {
		bad(RuleField{Name: "max_layers", Index: -1}, "max_layers: %d is negative", r.MaxLayers)
	}
	if r.MaxImageAge < 0 {
		bad(RuleField{Name: "max_image_age", Index: -1}, "max_image_age: %s is negative", r.MaxImageAge)
	}
	for i, raw := range r.AllowedBaseImages {
		if _, err := compileBasePattern(raw); err != nil {
			bad(RuleField{Name: "allowed_base_images", Index: i}, "allowed_base_images[%d]: %v", i, err)
		}
	}
	switch strings.ToLower(strings.TrimSpace(r.LayerEncryption)) {
	case "", LayerEncryptionAllow, LayerEncryptionRequire, LayerEncryptionForbid:
	default:
		bad(RuleField{Name: "layer_encryption", Index: -1}, "layer_encryption: %q is not \"require\", \"forbid\" or \"allow\"", r.LayerEncryption)
	}
	for i, e := range r.Exceptions {
		if err := e.Validate(); err != nil {
			bad(RuleField{Name: "exceptions", Index: i}, "exceptions[%d]: %v", i, err)
		}
	}
	return errs
}

func containsDotDot(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if s == ".." {
			return true
		}
	}
	return false
}

func knownRule(id string) bool {
	for _, r := range RuleIDs {
		if r == id {
			return true
		}
	}
	return false
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
