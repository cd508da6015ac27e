package policy

import (
	"fmt"
	"regexp"
	"strings"
)

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
