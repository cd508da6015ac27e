package gate

import (
	"testing"
	"time"
)

func TestDecideAttestation(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	recorded := func(age time.Duration) *AttestationPrior {
		return &AttestationPrior{Recorded: true, SignedAt: now.Add(-age)}
	}
	for _, tc := range []struct {
		name string
		in   AttestationInput
		want AttestationDecision
	}{
		{"a new attestation is signed", AttestationInput{Now: now}, AttestationDecision{true, "create"}},
		{"a state without a recorded attestation is signed again", AttestationInput{Prior: &AttestationPrior{}, Now: now}, AttestationDecision{true, "no attestation recorded"}},
		{"an attestation kept is judged again, not signed", AttestationInput{Prior: recorded(time.Hour), Now: now}, AttestationDecision{}},
		{"younger than renew_after is kept", AttestationInput{Prior: recorded(23 * time.Hour), RenewAfter: 24 * time.Hour, Now: now}, AttestationDecision{}},
		{"renew_after reached is renewed", AttestationInput{Prior: recorded(24 * time.Hour), RenewAfter: 24 * time.Hour, Now: now}, AttestationDecision{true, "older than renew_after 24h0m0s"}},
		{"a signing time that does not parse counts as too old", AttestationInput{Prior: &AttestationPrior{Recorded: true}, RenewAfter: time.Hour, Now: now}, AttestationDecision{true, "older than renew_after 1h0m0s"}},
		{"without renew_after age never renews", AttestationInput{Prior: recorded(1000 * time.Hour), Now: now}, AttestationDecision{}},
		{"a changed gate setting signs anew", AttestationInput{Prior: recorded(time.Hour), Now: now, Changed: []string{"scan", "policy"}}, AttestationDecision{true, "scan changed"}},
		{"a new write-only secret version signs anew", AttestationInput{Prior: recorded(time.Hour), Now: now, Changed: []string{"key.private_key_pem_wo_version"}}, AttestationDecision{true, "key.private_key_pem_wo_version changed"}},
		{"swapping key for keyless signs anew", AttestationInput{Prior: recorded(time.Hour), Now: now, SignerKindChanged: true}, AttestationDecision{true, "signer changed"}},
		{"an imported record is adopted as it is", AttestationInput{Prior: &AttestationPrior{Recorded: true, SignedAt: now, Imported: true}, Now: now, Changed: []string{"scan"}}, AttestationDecision{}},
		{"an imported record under a keyless signer is signed anew", AttestationInput{Prior: &AttestationPrior{Recorded: true, SignedAt: now, Imported: true}, Now: now, Keyless: true}, AttestationDecision{true, "imported attestation: a keyless signer has no key to check it against"}},
		{"renewal beats adoption", AttestationInput{Prior: &AttestationPrior{Recorded: true, SignedAt: now.Add(-48 * time.Hour), Imported: true}, RenewAfter: 24 * time.Hour, Now: now}, AttestationDecision{true, "older than renew_after 24h0m0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := DecideAttestation(tc.in); got != tc.want {
				t.Fatalf("DecideAttestation = %+v, want %+v", got, tc.want)
			}
		})
	}
}
