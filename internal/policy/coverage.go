package policy

import (
	"fmt"
	"strings"
)

// Coverage violation ids. They are also the ids an `ignore` names to accept
// the risk, like a CVE id.
const (
	// RuleOSUnsupported: the vulnerability database has no advisory data
	// for the image's OS release (a release newer than the database, one it
	// never covered, or an OS Trivy has no detector for).
	RuleOSUnsupported = "OS-UNSUPPORTED"
	// RuleOSEOSL: the image's OS release is past its end of life; its
	// distribution no longer publishes fixes or advisories for it.
	RuleOSEOSL = "OS-EOSL"
	// RuleOSPackagesUnseen: an OS was detected, but no OS package was found
	// (its package database, e.g. /lib/apk/db/installed or
	// /var/lib/dpkg/status, deleted to slim the image or to hide what it
	// holds), so its OS packages could not be checked at all.
	RuleOSPackagesUnseen = "OS-PACKAGES-UNSEEN"
)

// Coverage says whether the vulnerability data covers the OS of one
// platform image. The scanner fills it only when OS packages were
// scanned for vulnerabilities and an OS was detected.
type Coverage struct {
	// Image is the reference as the user wrote it; Digest the platform
	// image's digest.
	Image    string
	Digest   string
	Platform string
	// Family and Release name the OS as Trivy detected it, e.g. "alpine"
	// and "3.23.2".
	Family  string
	Release string
	// Supported: the database has advisory data for this release.
	Supported bool
	// Unsupported says why Supported is false, e.g. `the database has no
	// "alpine 3.30" advisories`.
	Unsupported string
	// EOSL: the release is past its end of life (Trivy's end-of-life
	// dates, at the time judged).
	EOSL bool
	// NoPackages: the scanner found no OS package on the detected OS, so
	// its package database is missing or empty.
	NoPackages bool
	// Database names the database judged against, e.g. "version 2,
	// updated 2026-11-30T06:00:00Z, from mirror.example.com/trivy-db:2".
	Database string
}

// OS is the family and release, e.g. "alpine 3.23.2".
func (c Coverage) OS() string { return strings.TrimSpace(c.Family + " " + c.Release) }

// where names the platform image: image (digest, platform).
func (c Coverage) where() string {
	var parts []string
	for _, s := range []string{c.Digest, c.Platform} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return c.Image
	}
	return fmt.Sprintf("%s (%s)", c.Image, strings.Join(parts, ", "))
}

func (c Coverage) database() string {
	if c.Database == "" {
		return "the vulnerability database"
	}
	return "the vulnerability database (" + c.Database + ")"
}

// coverageViolations turns one platform's coverage into violations: none
// when the release is covered and supported.
func coverageViolations(c Coverage) []Violation {
	var out []Violation
	ignore := func(id string) string {
		return fmt.Sprintf("or accept the risk with `ignore { id = %q, reason = \"…\", expires = \"YYYY-MM-DD\" }`", id)
	}
	if !c.Supported {
		why := c.Unsupported
		if why == "" {
			why = "it has no advisories for this release"
		}
		out = append(out, Violation{
			Rule:     RuleOSUnsupported,
			Platform: c.Platform,
			Subject:  c.OS(),
			Image:    c.Image,
			Digest:   c.Digest,
			Found: fmt.Sprintf("%s: OS %s is not covered by %s: %s, so its OS packages were not checked and \"no findings\" means nothing",
				c.where(), c.OS(), c.database(), why),
			Requires: "an OS release the vulnerability database has advisory data for",
			Fix: fmt.Sprintf("rebuild on a base image with a %s release the database covers; if the release is newer than the database, update the database (or its mirror); %s",
				orDash(c.Family), ignore(RuleOSUnsupported)),
		})
	}
	if c.NoPackages {
		out = append(out, Violation{
			Rule:     RuleOSPackagesUnseen,
			Platform: c.Platform,
			Subject:  c.OS(),
			Image:    c.Image,
			Digest:   c.Digest,
			Found: fmt.Sprintf("%s: OS %s was detected but no OS package was found: its package database (%s) is missing or empty, so none of its OS packages could be checked and \"no findings\" means nothing",
				c.where(), c.OS(), packageDatabase(c.Family)),
			Requires: "an OS whose installed packages the scanner can read",
			Fix: fmt.Sprintf("keep the package database in the image when slimming it (a runtime does not need it deleted, a scanner needs it present), or accept the risk with a reason: `ignore { id = %q, reason = \"…\", expires = \"YYYY-MM-DD\" }`",
				RuleOSPackagesUnseen),
		})
	}
	if c.EOSL {
		out = append(out, Violation{
			Rule:     RuleOSEOSL,
			Platform: c.Platform,
			Subject:  c.OS(),
			Image:    c.Image,
			Digest:   c.Digest,
			Found: fmt.Sprintf("%s: OS %s is end of life: its distribution no longer publishes security fixes or advisories for it, so vulnerabilities found since are neither fixed nor reported (judged with %s)",
				c.where(), c.OS(), c.database()),
			Requires: "an OS release that still receives security updates",
			Fix:      fmt.Sprintf("update the base image to a supported %s release and rebuild, %s", orDash(c.Family), ignore(RuleOSEOSL)),
		})
	}
	return out
}

// packageDatabase names where a family keeps its installed packages, for
// messages.
func packageDatabase(family string) string {
	switch family {
	case "alpine", "wolfi", "chainguard":
		return "/lib/apk/db/installed"
	case "debian", "ubuntu":
		return "/var/lib/dpkg/status or /var/lib/dpkg/status.d"
	case "redhat", "centos", "rocky", "alma", "oracle", "amazon", "fedora", "photon", "azurelinux", "cbl-mariner", "suse linux enterprise server", "opensuse.leap", "opensuse.tumbleweed":
		return "the rpm database under /var/lib/rpm or /usr/lib/sysimage/rpm"
	}
	return "the OS package database"
}
