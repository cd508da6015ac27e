package attest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
)

// An attestation read back from the registry (as an import adopts it) is
// checked against the signer's own key: one signed by another key, about
// another digest, of another predicate type, keyless, or altered is
// refused. Control: the signer's own attestation passes, through the
// registry (attached, then read back).
func TestCheckSignedByThisSigner(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, acctest.NewRegistry(t))
	ours := f.keySigner(t, f.key, true)
	theirs := f.keySigner(t, acctest.NewKeyPair(t), false)
	other := f.reg.Push(t, "team/api:2", acctest.Image(acctest.Config{}, acctest.Layer(acctest.File{Path: "app/other", Content: "other"})))
	read := func(a *attest.Attached) []byte {
		t.Helper()
		b, err := f.store().ReadBundle(ctx, f.digest, a.Digest)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := f.publish(t, ours, attest.VerdictPredicateType, map[string]any{"result": "passed"}, f.digest, f.subject, nil)
	if err := ours.CheckSigned(read(good), f.digest, attest.VerdictPredicateType); err != nil {
		t.Fatalf("the signer's own attestation is refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		a    *attest.Attached
		typ  string
		want string
	}{
		{"signed by another key", f.publish(t, theirs, attest.VerdictPredicateType, map[string]any{"result": "passed"}, f.digest, f.subject, nil), attest.VerdictPredicateType, "does not verify with this key"},
		{"about another digest, attached here", f.publish(t, ours, attest.VerdictPredicateType, map[string]any{"result": "passed"}, other, f.subject, nil), attest.VerdictPredicateType, "not about " + f.digest.String()},
		{"another predicate type", good, attest.VulnPredicateType, "predicate type"},
		{"payload altered after signing", f.publish(t, ours, attest.VerdictPredicateType, map[string]any{"result": "passed"}, f.digest, f.subject, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"payload":"`, `"payload":"A`, 1))
		}), attest.VerdictPredicateType, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ours.CheckSigned(read(tc.a), f.digest, tc.typ)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckSigned = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := ours.CheckSigned([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`), f.digest, attest.VerdictPredicateType); err == nil {
		t.Error("an empty bundle passed")
	}
	if _, err := f.store().ReadBundle(ctx, other, good.Digest); err == nil || !strings.Contains(err.Error(), "is not about") {
		t.Errorf("a referrer read for another subject: %v", err)
	}
}
