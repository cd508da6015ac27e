package policy

import (
	"fmt"
)

// ---- require_non_root ----

// checkNonRoot judges USER as the runtimes read it (see ResolveUser): uid 0
// fails, and so does a USER no uid can be vouched for (a name the image's
// /etc/passwd does not resolve, an id runtimes refuse), as Kubernetes'
// runAsNonRoot refuses a non-numeric user. Only the uid counts: "1000:0"
// passes, as group 0 grants no root privileges by itself.
func checkNonRoot(facts ImageFacts, rules Rules, add func(Violation)) {
	if !rules.RequireNonRoot {
		return
	}
	user := facts.User
	spec := parseUserSpec(user)
	const requires = "a USER that runtimes run as a non-zero uid: a number other than 0, or a name the image's /etc/passwd maps to one (require_non_root)"
	const rootFix = "add a non-root USER to the Dockerfile, e.g. `USER 65532:65532`, and make the files the process needs readable by it"
	var id Identity
	var err error
	switch {
	case spec.user.raw == "root":
		// The name root is root whatever /etc/passwd says; not worth a lookup.
		id = Identity{UID: 0, From: "the user root"}
	case isWindows(facts.Platform) && user != "" && (spec.user.kind == idName || spec.group.kind == idName):
		err = fmt.Errorf("on Windows, USER names a Windows account (such as ContainerUser or ContainerAdministrator), which imageguard cannot map to a uid")
	default:
		id, err = ResolveUser(user, facts.Passwd, facts.Group)
	}
	switch {
	case err != nil:
		add(Violation{
			Rule:     RuleRequireNonRoot,
			Subject:  user,
			Found:    fmt.Sprintf("cannot vouch for USER %q as non-root: %v", user, err),
			Requires: requires,
			Fix:      "set USER to a non-zero numeric uid, e.g. `USER 65532:65532` (checkable without the image's files, as Kubernetes' runAsNonRoot needs), or make the name resolve to a non-zero uid in the image's /etc/passwd (and any group in /etc/group)",
		})
	case id.Root():
		found := fmt.Sprintf("runs as root (USER %q is uid 0: %s)", user, id.From)
		if user == "" {
			found = "runs as root (no USER set: runtimes default to uid 0)"
		}
		add(Violation{Rule: RuleRequireNonRoot, Subject: user, Found: found, Requires: requires, Fix: rootFix})
	}
}
