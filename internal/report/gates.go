package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// VerifyFailure is the signature gate's failure on one image: each
// authority or attestation that did not hold, where signatures were looked
// for, and what to do.
func VerifyFailure(image, digest string, requireAll bool, violations []policy.Violation, searched []string) (summary, detail string) {
	var b strings.Builder
	require := "any"
	if requireAll {
		require = "all"
	}
	fmt.Fprintf(&b, "%s (%s) failed the signature gate (require = %q).\n", image, digest, require)
	for _, v := range violations {
		b.WriteString("  - " + v.Found + "\n")
	}
	if len(searched) > 0 {
		fmt.Fprintf(&b, "Searched: %s.\n", strings.Join(searched, ", "))
	}
	b.WriteString("What to do: sign this digest with the authority's key or identity (cosign sign / cosign attest; notation sign for a notation authority), check the authority's settings against the signer, or use `enforcement = \"warn\"` to audit without failing.")
	return "Image signature not verified", b.String()
}

// RulesFailure is the hardening rules' failure on one image: who names the
// gates' owner ("pin's"), context what the failure means ("cannot be
// approved").
func RulesFailure(who, ref, digest, context string, violations []policy.Violation) (summary, detail string) {
	lines := make([]string, 0, len(violations))
	for _, v := range violations {
		lines = append(lines, LineOf(v))
	}
	sort.Strings(lines)
	summary = fmt.Sprintf("Image fails the %s policy (%d violation(s))", who, len(lines))
	detail = fmt.Sprintf("%s (%s) %s:\n  - %s\n\nFix the image, correct the `policy` settings, or add an `exception` with a reason and an expiry.", ref, digest, context, strings.Join(lines, "\n  - "))
	return summary, detail
}

// Rejudged opens the scan failure of a verdict being judged again (a pin's
// approval, an attestation): verb and noun say what it was ("approved",
// "approval"), at and db when and against which database.
func Rejudged(summary, detail, ref, verb, noun, at, db string, violations []policy.Violation) (string, string) {
	subject := strings.ToUpper(verb[:1]) + verb[1:] + " image: "
	preamble := fmt.Sprintf("The %s digest of %s (%s %s against database %s) now fails: findings published since %s.", verb, ref, verb, at, db, noun)
	return subject + summary, preamble + " New violations: " + strings.Join(ViolationIDs(violations), ", ") + ".\n\n" + detail
}

// ImageRulesFailure is imageguard_image's `rules` failure: the violations'
// sentences, sorted (its `violations` output), and the message.
func ImageRulesFailure(ref, digest string, violations []policy.Violation) (lines []string, summary, detail string) {
	for _, v := range violations {
		lines = append(lines, LineOf(v))
	}
	sort.Strings(lines)
	summary = fmt.Sprintf("Image violates %d rule(s)", len(lines))
	detail = fmt.Sprintf("%s (%s) violates the rules:\n  - %s\n\nFix the image, or accept a violation with an `exception { rule = \"…\", reason = \"…\", expires = \"YYYY-MM-DD\" }` in the `rules` block.",
		ref, digest, strings.Join(lines, "\n  - "))
	return lines, summary, detail
}
