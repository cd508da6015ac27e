package policy

import (
	"fmt"
	"regexp"
	"strings"
)

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
