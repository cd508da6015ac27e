package policy

import (
	"fmt"
	"regexp"
	"strings"
)

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
