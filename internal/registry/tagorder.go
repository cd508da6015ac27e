package registry

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/mod/semver"
)

// Tag orders: newest first.
const (
	// OrderSemver sorts tags that are full semantic versions by semver
	// precedence and leaves every other tag out.
	OrderSemver = "semver"
	// OrderLexical sorts every tag by its text, descending.
	OrderLexical = "lexical"
)

// CompileTagFilter compiles a tag filter; it must match a whole tag.
func CompileTagFilter(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("%q is not a regular expression (RE2 syntax): %w", expr, err)
	}
	return re, nil
}

// SelectTags keeps the tags filter matches (nil keeps all), orders them
// newest first, and keeps the first limit (0 keeps all). Under OrderSemver
// a tag counts only as a full semantic version (`1.4.2`, `v1.4.2`,
// `2.0.0-rc.1`): `latest`, `1.4` (a floating alias) and `main-3f2a` are left
// out; equal versions (`1.4.2`, `v1.4.2`) keep a fixed order.
func SelectTags(tags []string, filter *regexp.Regexp, order string, limit int) []string {
	out := []string{}
	for _, t := range tags {
		if filter != nil && !filter.MatchString(t) {
			continue
		}
		if order == OrderSemver && semverOf(t) == "" {
			continue
		}
		out = append(out, t)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if order == OrderSemver {
			if c := semver.Compare(semverOf(out[i]), semverOf(out[j])); c != 0 {
				return c > 0
			}
		}
		return out[i] > out[j]
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// semverOf is tag as a full semantic version with a "v", or "".
func semverOf(tag string) string {
	v := tag
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) || semver.Build(v) != "" || semver.Canonical(v) != v {
		return ""
	}
	return v
}
