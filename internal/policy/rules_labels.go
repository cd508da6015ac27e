package policy

import (
	"fmt"
	"regexp"
	"sort"
)

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
