package gate

import (
	"fmt"
	"time"
)

// AttestationPrior is what the state of an imageguard_attestation holds.
type AttestationPrior struct {
	// Recorded is set when the state names a signing time and the
	// attestations signed.
	Recorded bool
	// SignedAt is when they were signed; zero when it does not parse.
	SignedAt time.Time
	// Imported is set for a record adopted by import: it holds no
	// settings, only the image and what was found attached to it.
	Imported bool
}

// AttestationInput is everything the decision to sign again depends on.
type AttestationInput struct {
	Prior *AttestationPrior // nil on create
	// RenewAfter is `renew_after`; zero means never by age.
	RenewAfter time.Duration
	Now        time.Time
	// Changed names the settings that differ between state and plan, in
	// the order they are compared: what is signed (platforms, the gates),
	// by whom (key, KMS, keyless, a write-only secret's version) or where
	// (tlog_upload, rekor_url). Secrets kept in state, renew_after and
	// delete_on_destroy are not settings that make a new attestation.
	Changed []string
	// SignerKindChanged is set when key, KMS or keyless was swapped for
	// another kind of signer.
	SignerKindChanged bool
	// Keyless is set when the plan signs keylessly.
	Keyless bool
}

// AttestationDecision is what a plan does with the attestation: sign a new
// one (Why says why, for the plan log), or keep the one recorded and judge
// the image again.
type AttestationDecision struct {
	Sign bool
	Why  string
}

// DecideAttestation decides whether a plan signs a new attestation. It is
// a pure function of the state, the plan's settings and the clock.
func DecideAttestation(in AttestationInput) AttestationDecision {
	p := in.Prior
	switch {
	case p == nil:
		return AttestationDecision{Sign: true, Why: "create"}
	case !p.Recorded:
		return AttestationDecision{Sign: true, Why: "no attestation recorded"}
	case in.RenewAfter > 0 && (p.SignedAt.IsZero() || in.Now.Sub(p.SignedAt) >= in.RenewAfter):
		return AttestationDecision{Sign: true, Why: fmt.Sprintf("older than renew_after %s", in.RenewAfter)}
	case p.Imported && in.Keyless:
		// A keyless signer has no key to check the adopted attestations
		// against: sign anew rather than vouch for what nobody checked.
		return AttestationDecision{Sign: true, Why: "imported attestation: a keyless signer has no key to check it against"}
	case p.Imported:
		return AttestationDecision{} // adopted as it is
	case len(in.Changed) > 0:
		return AttestationDecision{Sign: true, Why: in.Changed[0] + " changed"}
	case in.SignerKindChanged:
		return AttestationDecision{Sign: true, Why: "signer changed"}
	}
	return AttestationDecision{}
}
