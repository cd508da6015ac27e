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

	// User is the config's USER.
	User        string
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
	// RequireNonRoot: USER must name a non-root user. Unset, "root", "0"
	// and any "root:<group>" or "0:<group>" fail; "1000:0" passes (the uid is
	// what matters; group 0 grants no root privileges by itself). A user
	// name other than root passes: the image's /etc/passwd is not read.
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

// Exception accepts violations of one rule, optionally only for one
// subject and one image, until it expires.
type Exception struct {
	// Rule is a rule id (see RuleIDs).
	Rule string
	// Finding, when set, limits the exception to violations whose Subject
	// it names: a port ("22" also covers "22/tcp" and "22/udp"), a package,
	// a path ("/root/.ssh" or "root/.ssh"), a label, "env:NAME", ...
	Finding string
	// Image, when set, limits the exception to one image: its name in the
	// configuration, its reference as written, its registry/repository, or
	// registry/repository@digest.
	Image string
	// Reason is required: why the violation is accepted.
	Reason string
	// Expires is required; the exception applies through that day (UTC).
	Expires time.Time
	// Owner is who to ask when it expires.
	Owner string
}

// Validate reports a missing reason or expiry and an unknown rule.
func (e Exception) Validate() error {
	var problems []string
	if !knownRule(e.Rule) {
		if strings.TrimSpace(e.Rule) == "" {
			problems = append(problems, "rule is required (one of "+strings.Join(RuleIDs, ", ")+")")
		} else {
			problems = append(problems, fmt.Sprintf("rule %q is not one of %s", e.Rule, strings.Join(RuleIDs, ", ")))
		}
	}
	if strings.TrimSpace(e.Reason) == "" {
		problems = append(problems, "reason is required: say why the violation is accepted")
	}
	if e.Expires.IsZero() {
		problems = append(problems, "expires is required (YYYY-MM-DD): every exception must end")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("exception for %s: %s", e.describe(), strings.Join(problems, "; "))
}

func (e Exception) expired(now time.Time) bool {
	return !e.Expires.IsZero() && !now.Before(e.Expires.AddDate(0, 0, 1))
}

// describe names the exception in messages: rule, finding and image.
func (e Exception) describe() string {
	s := orDash(e.Rule)
	if e.Finding != "" {
		s += fmt.Sprintf(" (finding %q", e.Finding)
		if e.Image != "" {
			s += fmt.Sprintf(", image %q", e.Image)
		}
		s += ")"
	} else if e.Image != "" {
		s += fmt.Sprintf(" (image %q)", e.Image)
	}
	return s
}

func (e Exception) matches(v Violation, facts ImageFacts) bool {
	if e.Rule != v.Rule {
		return false
	}
	if e.Finding != "" && !findingMatches(v.Rule, e.Finding, v.Subject) {
		return false
	}
	if e.Image != "" && !imageMatches(e.Image, facts) {
		return false
	}
	return true
}

func findingMatches(rule, finding, subject string) bool {
	finding = strings.TrimSpace(finding)
	switch rule {
	case RuleForbiddenPorts, RuleAllowedPorts:
		p, err := parsePortPattern(finding)
		return err == nil && p.matches(subject)
	case RuleForbiddenPaths:
		return cleanPath(finding) == cleanPath(subject)
	case RuleForbiddenPackages:
		return strings.EqualFold(finding, subject)
	}
	return finding == subject
}

func imageMatches(want string, facts ImageFacts) bool {
	want = strings.TrimSpace(want)
	repo := facts.repositoryName()
	for _, c := range []string{facts.Name, facts.Ref, repo, repo + "@" + facts.Digest} {
		if c != "" && c == want {
			return true
		}
	}
	return repo != "" && normalizeRepoName(want) == repo
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

// ---- trusted_registries ----

func checkTrustedRegistries(facts ImageFacts, rules Rules, add func(Violation)) {
	if len(rules.TrustedRegistries) == 0 {
		return
	}
	repo := facts.repositoryName()
	for _, raw := range rules.TrustedRegistries {
		p, err := compileNamePattern(raw, false)
		if err == nil && repo != "" && p.match(repo) {
			return
		}
	}
	found := "repository " + repo
	if repo == "" {
		found = "no repository name"
	}
	add(Violation{
		Rule:     RuleTrustedRegistries,
		Subject:  repo,
		Found:    found,
		Requires: "a repository matching one of trusted_registries: " + quoteList(rules.TrustedRegistries),
		Fix:      "push (or mirror) the image to a trusted registry and reference it there, or add its registry/repository to trusted_registries",
	})
}

// repositoryName is registry/repository, normalized ("docker.io/library/alpine").
func (f ImageFacts) repositoryName() string {
	reg := strings.TrimSuffix(strings.TrimSpace(f.Registry), "/")
	repo := strings.Trim(strings.TrimSpace(f.Repository), "/")
	switch {
	case reg == "" && repo == "":
		return ""
	case reg == "":
		return normalizeRepoName(repo)
	case repo == "":
		return normalizeRepoName(reg)
	case strings.HasPrefix(strings.ToLower(repo), strings.ToLower(reg)+"/"):
		return normalizeRepoName(repo)
	}
	return normalizeRepoName(reg + "/" + repo)
}

// normalizeRepoName lowercases the host and spells Docker Hub "docker.io".
func normalizeRepoName(s string) string {
	s = strings.TrimSpace(s)
	host, rest, hasRest := strings.Cut(s, "/")
	host = strings.ToLower(host)
	switch host {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		host = "docker.io"
	}
	if !hasRest {
		return host
	}
	return host + "/" + rest
}

// expandDockerHub turns "alpine:3.20" into "docker.io/library/alpine:3.20"
// and "acme/api" into "docker.io/acme/api", as docker reads short names.
func expandDockerHub(s string) string {
	first, _, hasSlash := strings.Cut(s, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return normalizeRepoName(s)
	}
	if !hasSlash {
		return "docker.io/library/" + s
	}
	return "docker.io/" + s
}

// namePattern is a compiled trusted_registries or allowed_base_images name
// entry: a boundary-respecting prefix or an anchored glob.
type namePattern struct {
	prefix string
	glob   *regexp.Regexp
}

func compileNamePattern(raw string, expandShort bool) (namePattern, error) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return namePattern{}, fmt.Errorf("is empty")
	case strings.Contains(s, "://"):
		return namePattern{}, fmt.Errorf("%q has a URL scheme; write registry/repository, e.g. \"registry.example.com/team/\"", raw)
	case strings.ContainsAny(s, " \t\n"):
		return namePattern{}, fmt.Errorf("%q contains whitespace", raw)
	case strings.Contains(s, "***"):
		return namePattern{}, fmt.Errorf("%q: use \"*\" (within a path segment) or \"**\" (across segments), not \"***\"", raw)
	}
	if !strings.Contains(s, "*") {
		if expandShort {
			s = expandDockerHub(s)
		}
		return namePattern{prefix: normalizeRepoName(s)}, nil
	}
	s = normalizeRepoName(s)
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(s); i++ {
		if s[i] == '*' {
			if i+1 < len(s) && s[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
			continue
		}
		b.WriteString(regexp.QuoteMeta(s[i : i+1]))
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return namePattern{}, fmt.Errorf("%q is not a valid glob: %v", raw, err)
	}
	return namePattern{glob: re}, nil
}

func (p namePattern) match(name string) bool {
	if p.glob != nil {
		return p.glob.MatchString(name)
	}
	pre := strings.TrimSuffix(p.prefix, "/")
	if name == pre {
		return true
	}
	if !strings.HasPrefix(name, pre) || len(name) == len(pre) {
		return false
	}
	switch name[len(pre)] {
	case '/':
		return true
	case ':', '@':
		// A tag or digest follows; never a port after a bare host.
		return strings.Contains(pre, "/")
	}
	return false
}

// ---- require_non_root ----

// runsAsRoot reads USER: unset, "root", uid 0, with any group.
func runsAsRoot(user string) bool {
	u, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	u = strings.TrimSpace(u)
	if u == "" || u == "root" {
		return true
	}
	if n, err := strconv.ParseUint(u, 10, 64); err == nil {
		return n == 0
	}
	return false
}

func checkNonRoot(facts ImageFacts, rules Rules, add func(Violation)) {
	if !rules.RequireNonRoot || !runsAsRoot(facts.User) {
		return
	}
	user := strings.TrimSpace(facts.User)
	found := fmt.Sprintf("runs as root (USER %q)", user)
	if user == "" {
		found = "runs as root (no USER set)"
	}
	add(Violation{
		Rule:     RuleRequireNonRoot,
		Subject:  user,
		Found:    found,
		Requires: "a non-root USER: a non-zero uid or a user name other than root (require_non_root)",
		Fix:      "add a non-root USER to the Dockerfile, e.g. `USER 65532:65532`, and make the files the process needs readable by it",
	})
}

// ---- required_labels ----

func checkRequiredLabels(facts ImageFacts, rules Rules, add func(Violation)) {
	keys := make([]string, 0, len(rules.RequiredLabels))
	for k := range rules.RequiredLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		expr := rules.RequiredLabels[key]
		requires := fmt.Sprintf("label %q matching `%s` (required_labels)", key, expr)
		if expr == "" {
			requires = fmt.Sprintf("label %q to be set (required_labels)", key)
		}
		fix := fmt.Sprintf("set the label at build time (`LABEL %s=…` in the Dockerfile, or `--label`)", key)
		value, ok := facts.Labels[key]
		if !ok {
			value, ok = facts.Annotations[key]
		}
		if !ok {
			add(Violation{Rule: RuleRequiredLabels, Subject: key, Found: fmt.Sprintf("label %q is missing", key), Requires: requires, Fix: fix})
			continue
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			add(Violation{Rule: RuleRequiredLabels, Subject: key, Found: fmt.Sprintf("the regexp for label %q does not compile (%v), so it cannot pass", key, err), Requires: requires, Fix: "fix the regexp in required_labels (RE2 syntax)"})
			continue
		}
		if !re.MatchString(value) {
			add(Violation{Rule: RuleRequiredLabels, Subject: key, Found: fmt.Sprintf("label %q is %q, which does not match `%s`", key, truncate(value, 120), expr), Requires: requires, Fix: fix})
		}
	}
}

// ---- forbidden_ports / allowed_ports ----

type portPattern struct {
	lo, hi int
	proto  string // "" matches any protocol
}

var portProtocols = map[string]bool{"tcp": true, "udp": true, "sctp": true}

func parsePortPattern(s string) (portPattern, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	num, proto, hasProto := strings.Cut(s, "/")
	if hasProto && !portProtocols[proto] {
		return portPattern{}, fmt.Errorf("%q: protocol %q is not tcp, udp or sctp", s, proto)
	}
	loS, hiS, isRange := strings.Cut(num, "-")
	lo, err := strconv.Atoi(loS)
	if err != nil || lo < 1 || lo > 65535 {
		return portPattern{}, fmt.Errorf("%q is not a port: write \"22\", \"22/tcp\" or a range \"8000-8100\"", s)
	}
	hi := lo
	if isRange {
		hi, err = strconv.Atoi(hiS)
		if err != nil || hi < lo || hi > 65535 {
			return portPattern{}, fmt.Errorf("%q is not a port range: write low-high with 1 <= low <= high <= 65535", s)
		}
	}
	return portPattern{lo: lo, hi: hi, proto: proto}, nil
}

// normalizePort reads an exposed port: "22" is "22/tcp".
func normalizePort(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.Contains(s, "/") {
		return s + "/tcp"
	}
	return s
}

func (p portPattern) matches(exposed string) bool {
	num, proto, _ := strings.Cut(normalizePort(exposed), "/")
	n, err := strconv.Atoi(num)
	if err != nil {
		return false
	}
	return n >= p.lo && n <= p.hi && (p.proto == "" || p.proto == proto)
}

func matchAnyPort(patterns []string, exposed string) (string, bool) {
	for _, raw := range patterns {
		if p, err := parsePortPattern(raw); err == nil && p.matches(exposed) {
			return raw, true
		}
	}
	return "", false
}

func checkPorts(facts ImageFacts, rules Rules, add func(Violation)) {
	ports := make([]string, 0, len(facts.ExposedPorts))
	seen := map[string]bool{}
	for _, p := range facts.ExposedPorts {
		n := normalizePort(p)
		if !seen[n] {
			seen[n] = true
			ports = append(ports, n)
		}
	}
	sort.Strings(ports)
	for _, port := range ports {
		if len(rules.ForbiddenPorts) > 0 {
			if pat, ok := matchAnyPort(rules.ForbiddenPorts, port); ok {
				add(Violation{
					Rule:     RuleForbiddenPorts,
					Subject:  port,
					Found:    fmt.Sprintf("exposes port %s (forbidden by %q)", port, pat),
					Requires: "no exposed port matching forbidden_ports: " + quoteList(rules.ForbiddenPorts),
					Fix:      fmt.Sprintf("remove `EXPOSE %s` from the Dockerfile and the service behind it", port),
				})
			}
		}
		if len(rules.AllowedPorts) > 0 {
			if _, ok := matchAnyPort(rules.AllowedPorts, port); !ok {
				add(Violation{
					Rule:     RuleAllowedPorts,
					Subject:  port,
					Found:    fmt.Sprintf("exposes port %s, which allowed_ports does not list", port),
					Requires: "only exposed ports matching allowed_ports: " + quoteList(rules.AllowedPorts),
					Fix:      fmt.Sprintf("remove `EXPOSE %s` from the Dockerfile, or add it to allowed_ports", port),
				})
			}
		}
	}
}

// ---- forbidden_packages ----

func compilePackagePattern(raw string) (*regexp.Regexp, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, fmt.Errorf("is empty")
	}
	parts := strings.Split(s, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.Compile("(?i)^" + strings.Join(parts, ".*") + "$")
}

func checkPackages(facts ImageFacts, rules Rules, add func(Violation)) {
	if len(rules.ForbiddenPackages) == 0 {
		return
	}
	type pat struct {
		raw string
		re  *regexp.Regexp
	}
	var pats []pat
	for _, raw := range rules.ForbiddenPackages {
		if re, err := compilePackagePattern(raw); err == nil {
			pats = append(pats, pat{raw, re})
		}
	}
	seen := map[string]bool{}
	for _, p := range facts.Packages {
		for _, pt := range pats {
			if !pt.re.MatchString(p.Name) {
				continue
			}
			key := p.Name + "\x00" + p.Version + "\x00" + p.Type
			if seen[key] {
				break
			}
			seen[key] = true
			found := "package " + p.Name
			if p.Version != "" {
				found += " " + p.Version
			}
			if p.Type != "" {
				found += " (" + p.Type + ")"
			}
			add(Violation{
				Rule:     RuleForbiddenPackages,
				Subject:  p.Name,
				Found:    found + fmt.Sprintf(" is installed (forbidden by %q)", pt.raw),
				Requires: "no installed package matching forbidden_packages: " + quoteList(rules.ForbiddenPackages),
				Fix:      fmt.Sprintf("remove %s from the final image: uninstall it, use a multi-stage build, or a minimal (distroless) base", p.Name),
			})
			break
		}
	}
}

// ---- forbidden_paths ----

// cleanPath is the absolute, cleaned form of a path: "/etc/ssh".
func cleanPath(p string) string {
	p = strings.TrimSpace(p)
	parts := strings.Split(p, "/")
	var out []string
	for _, s := range parts {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

func checkPaths(facts ImageFacts, rules Rules, add func(Violation)) {
	seen := map[string]bool{}
	for _, raw := range rules.ForbiddenPaths {
		p := cleanPath(raw)
		if seen[p] {
			continue
		}
		seen[p] = true
		present, known := facts.FilesPresent[raw]
		if !known {
			present, known = facts.FilesPresent[p]
		}
		if !known {
			present, known = facts.FilesPresent[strings.TrimPrefix(p, "/")]
		}
		requires := fmt.Sprintf("no %s in the image's filesystem (forbidden_paths)", p)
		switch {
		case !known:
			// Fail closed: a path nobody looked for is not a pass.
			add(Violation{Rule: RuleForbiddenPaths, Subject: p, Found: fmt.Sprintf("%s was not checked: the image's file listing has no answer for it", p), Requires: requires,
				Fix: "this is a bug in imageguard (the path was not looked up); please report it"})
		case present:
			add(Violation{Rule: RuleForbiddenPaths, Subject: p, Found: p + " exists", Requires: requires,
				Fix: fmt.Sprintf("delete %s in the build step that creates it (removing it in a later layer hides it here but leaves it in the earlier layer's blob), or use a multi-stage build", p)})
		}
	}
}

// ---- max_size / max_layers ----

func checkSize(facts ImageFacts, rules Rules, add func(Violation)) {
	if rules.MaxSize > 0 && facts.Size > rules.MaxSize {
		add(Violation{
			Rule:     RuleMaxSize,
			Subject:  "size",
			Found:    "compressed size " + formatBytes(facts.Size),
			Requires: "at most " + formatBytes(rules.MaxSize) + " (max_size)",
			Fix:      "shrink the image: a smaller base (distroless, alpine, scratch), a multi-stage build, no build tools or caches in the final stage",
		})
	}
	if rules.MaxLayers > 0 && facts.Layers > rules.MaxLayers {
		add(Violation{
			Rule:     RuleMaxLayers,
			Subject:  "layers",
			Found:    fmt.Sprintf("%d layers", facts.Layers),
			Requires: fmt.Sprintf("at most %d layers (max_layers)", rules.MaxLayers),
			Fix:      "combine RUN steps, or use a multi-stage build that copies only the results into the final stage",
		})
	}
}

func formatBytes(n int64) string {
	const mib = 1 << 20
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB (%d bytes)", float64(n)/(1<<30), n)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/mib, n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ---- max_image_age ----

func checkAge(facts ImageFacts, rules Rules, now time.Time, add func(Violation)) {
	if rules.MaxImageAge <= 0 {
		return
	}
	requires := "built within the last " + formatDuration(rules.MaxImageAge) + " (max_image_age)"
	// Reproducible builds set created to the epoch (or leave it unset): the
	// age is unknown, and unknown does not pass.
	if facts.Created.IsZero() || !facts.Created.After(time.Unix(0, 0)) {
		created := "unset"
		if !facts.Created.IsZero() {
			created = facts.Created.UTC().Format(time.RFC3339)
		}
		add(Violation{
			Rule:     RuleMaxImageAge,
			Subject:  "created",
			Found:    fmt.Sprintf("no usable creation time (created is %s, as reproducible builds often set it), so the age cannot be judged", created),
			Requires: requires,
			Fix:      "rebuild with SOURCE_DATE_EPOCH set to the commit time, or add an exception for max_image_age with a reason and an expiry",
		})
		return
	}
	age := now.Sub(facts.Created)
	if age <= rules.MaxImageAge {
		return
	}
	add(Violation{
		Rule:     RuleMaxImageAge,
		Subject:  "created",
		Found:    fmt.Sprintf("built %s, %s ago", facts.Created.UTC().Format(time.RFC3339), formatDuration(age)),
		Requires: requires,
		Fix:      "rebuild the image (picking up base image and package updates) and deploy the new digest",
	})
}

// formatDuration says a duration in days and hours when it is that long.
func formatDuration(d time.Duration) string {
	if d < 24*time.Hour {
		return d.String()
	}
	days := d / (24 * time.Hour)
	hours := (d % (24 * time.Hour)) / time.Hour
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

// ---- allowed_base_images ----

type basePattern struct {
	name   namePattern
	digest string
}

var digestPattern = regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)

func compileBasePattern(raw string) (basePattern, error) {
	s := strings.TrimSpace(raw)
	nameS, digest, hasDigest := strings.Cut(s, "@")
	if hasDigest {
		digest = strings.ToLower(digest)
		if !digestPattern.MatchString(digest) {
			return basePattern{}, fmt.Errorf("%q: the digest %q is not sha256: followed by 64 hex characters", raw, digest)
		}
	}
	np, err := compileNamePattern(nameS, true)
	if err != nil {
		return basePattern{}, err
	}
	return basePattern{name: np, digest: digest}, nil
}

func (p basePattern) match(name, digest string) bool {
	if !p.name.match(name) {
		return false
	}
	return p.digest == "" || p.digest == strings.ToLower(digest)
}

func checkBaseImage(facts ImageFacts, rules Rules, add func(Violation)) {
	if len(rules.AllowedBaseImages) == 0 {
		return
	}
	requires := "a base image matching allowed_base_images: " + quoteList(rules.AllowedBaseImages)
	name, digest := baseOf(facts)
	if name == "" {
		add(Violation{
			Rule:     RuleAllowedBaseImages,
			Subject:  "",
			Found:    "no declared base image (no " + AnnotationBaseName + " annotation or label)",
			Requires: requires,
			Fix:      "build with the " + AnnotationBaseName + " and " + AnnotationBaseDigest + " annotations (or labels) set to the FROM image, or add an exception for allowed_base_images",
		})
		return
	}
	for _, raw := range rules.AllowedBaseImages {
		if p, err := compileBasePattern(raw); err == nil && p.match(name, digest) {
			return
		}
	}
	found := "base image " + name
	if digest != "" {
		found += "@" + digest
	}
	add(Violation{
		Rule:     RuleAllowedBaseImages,
		Subject:  name,
		Found:    found,
		Requires: requires,
		Fix:      "rebuild FROM an approved base image, or add this base to allowed_base_images",
	})
}

// baseOf reads the declared base image from the facts, falling back to the
// annotations and labels, and normalizes its name.
func baseOf(facts ImageFacts) (name, digest string) {
	name, digest = strings.TrimSpace(facts.BaseName), strings.TrimSpace(facts.BaseDigest)
	for _, m := range []map[string]string{facts.Annotations, facts.Labels} {
		if name == "" {
			name = strings.TrimSpace(m[AnnotationBaseName])
		}
		if digest == "" {
			digest = strings.TrimSpace(m[AnnotationBaseDigest])
		}
	}
	if n, d, ok := strings.Cut(name, "@"); ok {
		name = n
		if digest == "" {
			digest = d
		}
	}
	if name == "" {
		return "", digest
	}
	return expandDockerHub(name), digest
}

// ---- layer_encryption ----

// IsEncryptedMediaType reports whether a layer media type is an ocicrypt
// encrypted layer ("…+encrypted").
func IsEncryptedMediaType(mt string) bool {
	return strings.HasSuffix(mt, "+encrypted") || strings.Contains(mt, "+encrypted+")
}

func checkLayerEncryption(facts ImageFacts, rules Rules, add func(Violation)) {
	mode := strings.ToLower(strings.TrimSpace(rules.LayerEncryption))
	if mode == "" || mode == LayerEncryptionAllow {
		return
	}
	var plain, encrypted []string
	for i, mt := range facts.LayerMediaTypes {
		if IsEncryptedMediaType(mt) {
			encrypted = append(encrypted, strconv.Itoa(i))
		} else {
			plain = append(plain, strconv.Itoa(i))
		}
	}
	switch mode {
	case LayerEncryptionRequire:
		if len(plain) == 0 {
			return
		}
		add(Violation{
			Rule:     RuleLayerEncryption,
			Subject:  "layers",
			Found:    fmt.Sprintf("%d of %d layers are not encrypted (layer %s, counting from 0)", len(plain), len(facts.LayerMediaTypes), strings.Join(plain, ", ")),
			Requires: `every layer encrypted (layer_encryption = "require")`,
			Fix:      "encrypt the image's layers with ocicrypt (e.g. `skopeo copy --encryption-key …`) and push the encrypted image",
		})
	case LayerEncryptionForbid:
		if len(encrypted) == 0 {
			return
		}
		add(Violation{
			Rule:     RuleLayerEncryption,
			Subject:  "layers",
			Found:    fmt.Sprintf("%d of %d layers are encrypted (layer %s, counting from 0)", len(encrypted), len(facts.LayerMediaTypes), strings.Join(encrypted, ", ")),
			Requires: `no encrypted layers (layer_encryption = "forbid"): encrypted layers cannot be scanned`,
			Fix:      "push an unencrypted image for the gate to judge, or set layer_encryption to \"allow\"",
		})
	default:
		add(Violation{
			Rule:     RuleLayerEncryption,
			Subject:  "layers",
			Found:    fmt.Sprintf("layer_encryption is %q, which is not require, forbid or allow", rules.LayerEncryption),
			Requires: `layer_encryption to be "require", "forbid" or "allow"`,
			Fix:      "fix the layer_encryption setting",
		})
	}
}

// ---- secrets_in_config ----

// secretNameWords mark an environment variable or build arg as a secret.
var secretNameWords = []string{"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "API_KEY", "APIKEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL"}

// notSecretSuffixes mark names that point to a secret rather than hold it.
var notSecretSuffixes = []string{"_FILE", "_PATH", "_DIR", "_NAME", "_URL", "_URI", "_ENDPOINT", "_TYPE", "_ID_FILE"}

func secretLookingName(name string) bool {
	n := strings.ToUpper(name)
	for _, s := range notSecretSuffixes {
		if strings.HasSuffix(n, s) {
			return false
		}
	}
	for _, w := range secretNameWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// placeholderValue is a value that holds no secret: empty, a reference to
// another variable, a path, or a boolean.
func placeholderValue(v string) bool {
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	switch strings.ToLower(v) {
	case "", "true", "false", "yes", "no", "none", "null":
		return true
	}
	return strings.HasPrefix(v, "$") || strings.HasPrefix(v, "/")
}

// tokenFormats are well-known credential formats, found in any value.
var tokenFormats = []struct {
	what string
	re   *regexp.Regexp
}{
	{"an AWS access key id", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"a GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})`)},
	{"a GitLab token", regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}`)},
	{"a Slack token", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`)},
	{"an npm token", regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`)},
	{"a Google API key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)},
	{"a Stripe live key", regexp.MustCompile(`\b[sr]k_live_[0-9A-Za-z]{20,}`)},
	{"a private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
	{"a URL with a password", regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`)},
}

func tokenFormat(v string) (string, bool) {
	for _, t := range tokenFormats {
		if t.re.MatchString(v) {
			return t.what, true
		}
	}
	return "", false
}

// historyAssignment finds NAME=value in a history command: ENV and ARG
// steps, and build args BuildKit records as `RUN |2 NAME=value …`.
var historyAssignment = regexp.MustCompile(`(?i)([a-z0-9_]+)=("[^"]*"|'[^']*'|[^\s"']+)`)

func checkConfigSecrets(facts ImageFacts, rules Rules, add func(Violation)) {
	if !rules.SecretsInConfig {
		return
	}
	const requires = "no secrets in the image config: environment, labels or build history (secrets_in_config)"
	const fix = "remove the secret from the image config (use runtime secrets or `RUN --mount=type=secret` instead of ENV, ARG or --build-arg), rotate it, and rebuild"
	for i := range facts.ConfigSecrets {
		s := facts.ConfigSecrets[i]
		found := fmt.Sprintf("%s secret %s", orDash(s.Severity), s.RuleID)
		if s.Category != "" {
			found += " (" + s.Category + ")"
		}
		if s.Target != "" {
			found += " in " + s.Target
		}
		add(Violation{Rule: RuleSecretsInConfig, Subject: s.RuleID, Found: found, Requires: requires, Fix: fix, Secret: &facts.ConfigSecrets[i]})
	}
	seen := map[string]bool{}
	for _, kv := range facts.Env {
		name, value, _ := strings.Cut(kv, "=")
		subject := "env:" + name
		if seen[subject] {
			continue
		}
		if what, ok := tokenFormat(value); ok {
			seen[subject] = true
			add(Violation{Rule: RuleSecretsInConfig, Subject: subject, Found: fmt.Sprintf("environment variable %s holds what looks like %s (value not shown)", name, what), Requires: requires, Fix: fix})
			continue
		}
		if secretLookingName(name) && !placeholderValue(value) {
			seen[subject] = true
			add(Violation{Rule: RuleSecretsInConfig, Subject: subject, Found: fmt.Sprintf("environment variable %s has a value baked into the image (value not shown)", name), Requires: requires, Fix: fix})
		}
	}
	for i, cmd := range facts.History {
		subject := fmt.Sprintf("history[%d]", i)
		if what, ok := tokenFormat(cmd); ok {
			add(Violation{Rule: RuleSecretsInConfig, Subject: subject, Found: fmt.Sprintf("build history step %d contains what looks like %s (not shown)", i, what), Requires: requires, Fix: fix})
			continue
		}
		var names []string
		for _, m := range historyAssignment.FindAllStringSubmatch(cmd, -1) {
			if secretLookingName(m[1]) && !placeholderValue(m[2]) {
				names = append(names, m[1])
			}
		}
		if len(names) > 0 {
			add(Violation{Rule: RuleSecretsInConfig, Subject: subject, Found: fmt.Sprintf("build history step %d sets %s to a value (not shown)", i, strings.Join(names, ", ")), Requires: requires, Fix: fix})
		}
	}
}

// ---- validation ----

// ValidateRules reports malformed settings, each error naming its
// attribute (e.g. `trusted_registries[1]: "https://r.example.com" has a URL
// scheme…`), in attribute order. EvaluateRules fails closed on them, so the
// provider should report these as configuration errors first.
func ValidateRules(r Rules) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for i, raw := range r.TrustedRegistries {
		if _, err := compileNamePattern(raw, false); err != nil {
			bad("trusted_registries[%d]: %v", i, err)
			continue
		}
		s := strings.TrimSpace(raw)
		_, path, _ := strings.Cut(s, "/")
		switch {
		case strings.Contains(s, "@"):
			bad("trusted_registries[%d]: %q names a digest; entries match registry/repository (e.g. \"registry.example.com/team/\")", i, raw)
		case strings.Contains(path, ":"):
			bad("trusted_registries[%d]: %q names a tag; entries match registry/repository (e.g. \"registry.example.com/team/\")", i, raw)
		case path != strings.ToLower(path):
			bad("trusted_registries[%d]: %q has upper-case letters in the repository path; repository names are lower-case", i, raw)
		}
	}
	labels := make([]string, 0, len(r.RequiredLabels))
	for k := range r.RequiredLabels {
		labels = append(labels, k)
	}
	sort.Strings(labels)
	for _, k := range labels {
		if strings.TrimSpace(k) == "" {
			bad("required_labels: a label name is empty")
			continue
		}
		if _, err := regexp.Compile(r.RequiredLabels[k]); err != nil {
			bad("required_labels[%q]: the regexp %q does not compile: %v", k, r.RequiredLabels[k], err)
		}
	}
	for i, p := range r.ForbiddenPorts {
		if _, err := parsePortPattern(p); err != nil {
			bad("forbidden_ports[%d]: %v", i, err)
		}
	}
	for i, p := range r.AllowedPorts {
		if _, err := parsePortPattern(p); err != nil {
			bad("allowed_ports[%d]: %v", i, err)
		}
	}
	for i, p := range r.ForbiddenPackages {
		if _, err := compilePackagePattern(p); err != nil {
			bad("forbidden_packages[%d]: %v", i, err)
		}
	}
	for i, p := range r.ForbiddenPaths {
		s := strings.TrimSpace(p)
		switch {
		case s == "":
			bad("forbidden_paths[%d]: is empty", i)
		case strings.ContainsAny(s, "*?["):
			bad("forbidden_paths[%d]: %q has a wildcard; give exact paths such as \"/root/.ssh\"", i, p)
		case cleanPath(s) == "/":
			bad("forbidden_paths[%d]: %q is the root directory, which every image has", i, p)
		case containsDotDot(s):
			bad("forbidden_paths[%d]: %q has a \"..\" segment; give the path it means", i, p)
		}
	}
	if r.MaxSize < 0 {
		bad("max_size: %d is negative", r.MaxSize)
	}
	if r.MaxLayers < 0 {
		bad("max_layers: %d is negative", r.MaxLayers)
	}
	if r.MaxImageAge < 0 {
		bad("max_image_age: %s is negative", r.MaxImageAge)
	}
	for i, raw := range r.AllowedBaseImages {
		if _, err := compileBasePattern(raw); err != nil {
			bad("allowed_base_images[%d]: %v", i, err)
		}
	}
	switch strings.ToLower(strings.TrimSpace(r.LayerEncryption)) {
	case "", LayerEncryptionAllow, LayerEncryptionRequire, LayerEncryptionForbid:
	default:
		bad("layer_encryption: %q is not \"require\", \"forbid\" or \"allow\"", r.LayerEncryption)
	}
	for i, e := range r.Exceptions {
		if err := e.Validate(); err != nil {
			bad("exceptions[%d]: %v", i, err)
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
