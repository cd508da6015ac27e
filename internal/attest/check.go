package attest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
)

// maxBundleBytes bounds a bundle read back from a registry, as
// internal/verify bounds it.
const maxBundleBytes = 16 << 20

// ErrKeylessUnchecked is CheckSigned's answer for a keyless signer: its
// certificate is issued at signing, so there is no key to check an
// earlier bundle against (that needs a trusted root and an identity, as
// imageguard_verify has).
var ErrKeylessUnchecked = errors.New("a keyless signer has no long-lived key to check an existing attestation against")

// keyMaterial trusts one long-lived key, and nothing else.
type keyMaterial struct {
	root.TrustedMaterial
	key root.TimeConstrainedVerifier
}

func (k *keyMaterial) PublicKeyVerifier(string) (root.TimeConstrainedVerifier, error) {
	return k.key, nil
}

// CheckSigned verifies that bundleJSON, a Sigstore bundle as Store
// attaches it, is a DSSE envelope signed by this signer's key over an
// in-toto statement about subject with predicateType. The transparency log
// is not consulted: the question is who signed, not when.
func (s *Signer) CheckSigned(bundleJSON []byte, subject v1.Hash, predicateType string) error {
	kp, ok := s.kp.(*keypair)
	if !ok || s.kind == KindKeyless {
		return ErrKeylessUnchecked
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return fmt.Errorf("not a Sigstore bundle: %w", err)
	}
	if b.GetDsseEnvelope() == nil {
		return errors.New("the bundle holds no DSSE envelope (no in-toto statement)")
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return fmt.Errorf("the bundle is malformed: %w", err)
	}
	if vc.Certificate() != nil {
		return errors.New("it is signed keyless, with a certificate, not with this key")
	}
	v, err := sgverify.NewVerifier(&keyMaterial{TrustedMaterial: &root.BaseTrustedMaterial{}, key: root.NewExpiringKey(kp.sv, time.Time{}, time.Time{})}, sgverify.WithNoObserverTimestamps())
	if err != nil {
		return fmt.Errorf("verification could not be set up: %w", err)
	}
	res, err := v.Verify(&b, sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithKey()))
	if err != nil {
		return fmt.Errorf("its signature does not verify with this key (%s): %w", s.keyID, err)
	}
	st := res.Statement
	if st == nil {
		return errors.New("the signed payload is not an in-toto statement")
	}
	if st.GetPredicateType() != predicateType {
		return fmt.Errorf("the signed predicate type is %q, not %q", st.GetPredicateType(), predicateType)
	}
	for _, sub := range st.GetSubject() {
		if sub.GetDigest()[subject.Algorithm] == subject.Hex {
			return nil
		}
	}
	return fmt.Errorf("the signed statement is not about %s", subject)
}

// ReadBundle reads the Sigstore bundle of the referrer d: the layer of
// bundle media type of its manifest, whose subject must be subject.
func (s Store) ReadBundle(ctx context.Context, subject, d v1.Hash) ([]byte, error) {
	img, err := remote.Image(s.Repository.Digest(d.String()), s.opts(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("reading referrer %s: %w", d, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading referrer %s: %w", d, err)
	}
	if m.Subject == nil || m.Subject.Digest != subject {
		return nil, fmt.Errorf("referrer %s is not about %s", d, subject)
	}
	for _, l := range m.Layers {
		if !strings.HasPrefix(string(l.MediaType), "application/vnd.dev.sigstore.bundle") {
			continue
		}
		if l.Size > maxBundleBytes {
			return nil, fmt.Errorf("the bundle of referrer %s is %d bytes, more than %d", d, l.Size, maxBundleBytes)
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, fmt.Errorf("reading the bundle of referrer %s: %w", d, err)
		}
		defer rc.Close()
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(rc, maxBundleBytes+1)); err != nil {
			return nil, fmt.Errorf("reading the bundle of referrer %s: %w", d, err)
		}
		if buf.Len() > maxBundleBytes {
			return nil, fmt.Errorf("the bundle of referrer %s is larger than %d bytes", d, maxBundleBytes)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("referrer %s holds no Sigstore bundle", d)
}
