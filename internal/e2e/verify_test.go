package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// TestVerifyBundleOnDockerRegistry: a cosign v3 bundle signature stored on
// Debian's docker-registry, which has no referrers API, so the bundle lives
// under the `sha256-<digest>` referrers tag. The built provider verifies it
// through the real terraform; an unsigned image fails the plan.
func TestVerifyBundleOnDockerRegistry(t *testing.T) {
	e := setup(t)
	reg := startDockerRegistry(t, "")
	signedRef := reg.Host + "/team/signed:1"
	signed := push(t, signedRef, acctest.Image(acctest.Config{User: "1"}, acctest.AlpineLayer("3.23.2")), authn.Anonymous)
	unsignedRef := reg.Host + "/team/unsigned:1"
	push(t, unsignedRef, acctest.Image(acctest.Config{User: "2"}, acctest.AlpineLayer("3.23.2")), authn.Anonymous)

	ss := acctest.NewSigstore(t)
	key := acctest.NewKeyPair(t)
	(&acctest.Registry{Host: reg.Host}).SignBundle(t, "team/signed", signed, acctest.Signer{Key: key, Sigstore: ss, TLog: true})

	w := e.workspace(t, "e2e-verify")
	vars := func(image string) []string {
		return []string{"-var", "image=" + image, "-var", "public_key_pem=" + key.PublicKeyPEM, "-var", "trusted_root_json=" + ss.TrustedRootJSON(t)}
	}
	w.mustTerraform(nil, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, vars(signedRef)...)...)
	pinned := strings.TrimSpace(w.mustTerraform(nil, "output", "-raw", "pinned").stdout)
	if pinned != reg.Host+"/team/signed@"+signed.String() {
		t.Fatalf("pinned = %q", pinned)
	}
	loc := strings.TrimSpace(w.mustTerraform(nil, "output", "-raw", "location").stdout)
	if !strings.Contains(loc, "referrers tag sha256-") {
		t.Fatalf("the bundle should have been found under the referrers tag on a registry without the API, got %q", loc)
	}

	r := w.terraform(nil, append([]string{"plan", "-input=false", "-no-color"}, vars(unsignedRef)...)...)
	if r.code == 0 || !strings.Contains(r.combined, "Image signature not verified") || !strings.Contains(r.combined, "no signature found") {
		t.Fatalf("an unsigned image must fail the plan with the reason: %s", r)
	}
}
