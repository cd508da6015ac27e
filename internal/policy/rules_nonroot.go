package policy

import (
	"fmt"
	"strconv"
	"strings"
)

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
