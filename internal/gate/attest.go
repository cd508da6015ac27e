package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// AttestLogSubsystem is the tflog subsystem of attestations: signing,
// the transparency log, and each referrer written or deleted.
const AttestLogSubsystem = "attest"

// AttestInput is a verdict that passed, to be signed and attached.
type AttestInput struct {
	// Resolved is the digest judged: the subject of both attestations.
	Resolved *registry.Resolved
	Signer   attest.SignerOptions
	Vuln     attest.VulnInput
	Verdict  attest.Verdict
	// SignedAt is recorded as the referrers' creation time.
	SignedAt time.Time
	// Options carry credentials and transport (registry.Client.RemoteOptions).
	Options []remote.Option
}

// AttestOutcome is what was published.
type AttestOutcome struct {
	// Attached are the vulnerability attestation, then the verdict.
	Attached []attest.Attached
	// KeyID is the signing key's id (hex SHA-256 of the DER public key);
	// empty for keyless.
	KeyID string
	// Identity is the keyless certificate's identity; empty for a key.
	Identity string
}

// Attest signs the verdict as two attestations (the cosign vulnerability
// predicate and imageguard's verdict) over the judged digest and attaches
// both as referrers. Nothing is attached unless both are signed; if the
// second cannot be attached, the first is deleted again (best effort), so
// a failure leaves no half-published verdict.
func Attest(ctx context.Context, in AttestInput) (*AttestOutcome, error) {
	d := in.Resolved.Digest
	repo := in.Resolved.Ref.Repository
	fields := map[string]any{"repository": repo.Name(), "digest": d.String()}
	vuln, err := attest.VulnPredicate(in.Vuln)
	if err != nil {
		return nil, &Error{Summary: "Attestation not made", Detail: fmt.Sprintf("%s: the vulnerability predicate could not be built: %v", in.Resolved.Pinned(), err), Err: err}
	}
	verdict := in.Verdict
	verdict.Normalize()
	subject := attest.Subject{Name: repo.Name(), Digest: d}
	predicates := []struct {
		typ  string
		pred any
	}{{attest.VulnPredicateType, vuln}, {attest.VerdictPredicateType, verdict}}

	signer, err := attest.NewSigner(ctx, in.Signer)
	if err != nil {
		return nil, &Error{Attr: signerAttr(in.Signer), Summary: "Cannot sign", Detail: fmt.Sprintf("Nothing was signed for %s: %v.", in.Resolved.Pinned(), err), Err: err}
	}
	defer signer.Close()
	fields["signer"] = signer.Kind()
	out := &AttestOutcome{KeyID: signer.KeyID()}
	var bundles [][]byte
	for _, p := range predicates {
		st, err := attest.Statement(subject, p.typ, p.pred)
		if err != nil {
			return nil, &Error{Summary: "Attestation not made", Detail: err.Error(), Err: err}
		}
		start := time.Now()
		signed, err := signer.Sign(ctx, st)
		if err != nil {
			return nil, &Error{Attr: signerAttr(in.Signer), Summary: "Signing failed",
				Detail: fmt.Sprintf("Nothing was attached to %s: %v. Check the signer's settings and that Fulcio/Rekor are reachable, or set tlog_upload = false for a private setup without Rekor.", in.Resolved.Pinned(), err), Err: err}
		}
		out.Identity = signed.CertificateIdentity
		tflog.SubsystemDebug(ctx, AttestLogSubsystem, "statement signed", with(fields, map[string]any{
			"predicate_type": p.typ, "tlog_index": signed.TLogIndex, "bytes": len(signed.Bundle), "duration_ms": time.Since(start).Milliseconds()}))
		bundles = append(bundles, signed.Bundle)
	}
	store := attest.Store{Repository: repo, Options: in.Options}
	desc := v1.Descriptor{MediaType: in.Resolved.MediaType, Digest: d, Size: int64(len(in.Resolved.Manifest))}
	var bs []attest.Bundle
	for i, p := range predicates {
		bs = append(bs, attest.Bundle{JSON: bundles[i], PredicateType: p.typ})
	}
	start := time.Now()
	attached, err := store.AttachAll(ctx, desc, bs, in.SignedAt)
	if err != nil {
		undo(ctx, store, d, attached, fields)
		return nil, &Error{Summary: "Attestation not attached",
			Detail: fmt.Sprintf("The attestations could not be attached to %s: %v. Nothing was left attached; check push permission for %s.", in.Resolved.Pinned(), err, repo.Name()), Err: err}
	}
	for _, a := range attached {
		tflog.SubsystemDebug(ctx, AttestLogSubsystem, "attestation attached", with(fields, map[string]any{
			"predicate_type": a.PredicateType, "referrer": a.Digest.String(), "location": a.Location}))
	}
	tflog.SubsystemDebug(ctx, AttestLogSubsystem, "attestations attached", with(fields, map[string]any{"count": len(attached), "duration_ms": time.Since(start).Milliseconds()}))
	out.Attached = attached
	return out, nil
}

// undo deletes what a failed Attest attached.
func undo(ctx context.Context, store attest.Store, subject v1.Hash, attached []attest.Attached, fields map[string]any) {
	if len(attached) == 0 {
		return
	}
	var ds []v1.Hash
	for _, a := range attached {
		ds = append(ds, a.Digest)
	}
	if err := store.Delete(ctx, subject, ds); err != nil {
		tflog.SubsystemWarn(ctx, AttestLogSubsystem, "could not delete a partly published attestation", with(fields, map[string]any{"error": err.Error()}))
	}
}

// DeleteAttestations removes the referrers an imageguard_attestation made.
func DeleteAttestations(ctx context.Context, repo name.Repository, subject v1.Hash, digests []v1.Hash, opts []remote.Option) error {
	err := attest.Store{Repository: repo, Options: opts}.Delete(ctx, subject, digests)
	tflog.SubsystemDebug(ctx, AttestLogSubsystem, "attestations deleted", map[string]any{
		"repository": repo.Name(), "digest": subject.String(), "referrers": len(digests), "ok": err == nil})
	return err
}

// CheckKey opens a private key without signing, so that a plan fails on a
// key that cannot sign (a wrong password, a public key) before apply. A
// KMS key or Fulcio is asked only at apply.
func CheckKey(ctx context.Context, privateKeyPEM, password []byte) error {
	s, err := attest.NewSigner(ctx, attest.SignerOptions{PrivateKeyPEM: privateKeyPEM, Password: password})
	if err != nil {
		return &Error{Attr: FieldKey, Summary: "Cannot sign", Detail: fmt.Sprintf("The key cannot sign: %v.", err), Err: err}
	}
	s.Close()
	return nil
}

// FindAttestations finds the newest imageguard attestations of subject:
// at most one vulnerability attestation and one verdict, in that order.
func FindAttestations(ctx context.Context, store attest.Store, subject v1.Hash) ([]attest.Attached, error) {
	all, err := store.Find(ctx, subject, []string{attest.VulnPredicateType, attest.VerdictPredicateType})
	if err != nil {
		return nil, err
	}
	var out []attest.Attached
	for _, pt := range []string{attest.VulnPredicateType, attest.VerdictPredicateType} {
		for _, a := range all {
			if a.PredicateType == pt {
				out = append(out, a)
				break
			}
		}
	}
	return out, nil
}

// MissingAttestations lists the recorded referrers no longer in the registry.
func MissingAttestations(ctx context.Context, store attest.Store, digests []string) ([]string, error) {
	var missing []string
	for _, s := range digests {
		d, err := v1.NewHash(s)
		if err != nil {
			return nil, fmt.Errorf("recorded attestation digest %q: %w", s, err)
		}
		ok, err := store.Exists(ctx, d)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, s)
		}
	}
	return missing, nil
}

// signerAttr is the block a signer error concerns.
func signerAttr(o attest.SignerOptions) Field {
	switch {
	case o.KMSRef != "":
		return FieldKMS
	case o.Keyless != nil:
		return FieldKeyless
	case len(o.PrivateKeyPEM) > 0:
		return FieldKey
	}
	return FieldImage
}

func with(base, more map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(more))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// CheckAdopted verifies, before an imported imageguard_attestation adopts
// them, that the attestations found at subject were signed by the
// configured signer (its key, or its KMS key) over subject: anyone who can
// push to the repository can attach a bundle there. A keyless signer has
// no key to check with (attest.ErrKeylessUnchecked): the caller signs anew.
func CheckAdopted(ctx context.Context, store attest.Store, subject v1.Hash, found []attest.Attached, o attest.SignerOptions) error {
	image := store.Repository.Name() + "@" + subject.String()
	signer, err := attest.NewSigner(ctx, o)
	if err != nil {
		return &Error{Attr: signerAttr(o), Summary: "Cannot check the imported attestation", Detail: fmt.Sprintf("The signer cannot be prepared to check the attestations of %s: %v.", image, err), Err: err}
	}
	defer signer.Close()
	for _, a := range found {
		b, err := store.ReadBundle(ctx, subject, a.Digest)
		if err == nil {
			err = signer.CheckSigned(b, subject, a.PredicateType)
		}
		if err != nil {
			return &Error{Summary: "Imported attestation not signed by this signer",
				Detail: fmt.Sprintf("The newest %s attestation of %s (referrer %s, %s) is not adopted: %v. Anyone with push access to %s can attach one. "+
					"Delete that referrer if it is not yours, or remove the resource from state (terraform state rm) and let the next plan sign a new attestation.",
					a.PredicateType, image, a.Digest, a.Location, err, store.Repository.Name()), Err: err}
		}
		tflog.SubsystemDebug(ctx, AttestLogSubsystem, "imported attestation checked", map[string]any{"repository": store.Repository.Name(), "digest": subject.String(),
			"predicate_type": a.PredicateType, "referrer": a.Digest.String(), "key_id": signer.KeyID()})
	}
	return nil
}
