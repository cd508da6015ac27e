package verify

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/cosign/v3/pkg/cosign"
)

// simpleSigning is the part of cosign's simple-signing payload we judge.
type simpleSigning struct {
	Critical struct {
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// verifyLegacy checks a `.sig` or `.att` layer with cosign's own verifier
// (signature, certificate chain, Rekor SET, RFC 3161 timestamp, expiry),
// then checks identity and the digest the payload names.
func (r *run) verifyLegacy(c *candidate, a *authority) (*outcome, string) {
	sig := c.legacy
	cert, err := sig.Cert()
	if err != nil {
		return nil, "the certificate annotation does not parse: " + err.Error()
	}
	rb, err := sig.Bundle()
	if err != nil {
		return nil, "the transparency log bundle annotation does not parse: " + err.Error()
	}
	ts, err := sig.RFC3161Timestamp()
	if err != nil {
		return nil, "the signed timestamp annotation does not parse: " + err.Error()
	}
	switch {
	case a.keyless != nil && cert == nil:
		return nil, "signed with a public key, not a Fulcio certificate: this authority is keyless"
	case a.key != nil && cert != nil:
		if s, err := summarize(cert); err == nil {
			return nil, fmt.Sprintf("signed keyless (certificate issuer %s subject %s), not with the given public key", orNone(s.Issuer), orNone(s.SubjectAlternativeName))
		}
		return nil, "signed with a certificate, not with the given public key"
	}
	if cert != nil && rb == nil && ts == nil {
		return nil, keylessWithoutProofOfTime
	}
	if r.v.tlogRequired && rb == nil {
		return nil, `no transparency log entry: the signature has no Rekor bundle and tlog is "required" (sign with the transparency log, or set tlog = "optional" to accept key signatures without one)`
	}

	co := &cosign.CheckOpts{Offline: true, IgnoreSCT: true}
	if a.key != nil {
		co.SigVerifier = a.key.verifier
		if r.v.tlogRequired {
			co.TrustedMaterial = r.tm
		} else {
			co.IgnoreTlog = true
		}
	} else {
		co.TrustedMaterial = r.tm
		co.IgnoreSCT = len(r.tm.CTLogs()) == 0
		co.IgnoreTlog = !r.v.tlogRequired && rb == nil
		co.UseSignedTimestamps = ts != nil
	}
	check := func(co *cosign.CheckOpts) error {
		if c.legacyAtt {
			_, err := cosign.VerifyBlobAttestation(r.ctx, sig, r.req.Digest, co)
			return err
		}
		_, err := cosign.VerifyImageSignature(r.ctx, sig, r.req.Digest, co)
		return err
	}
	if a.key != nil && !co.IgnoreTlog {
		// As for bundles: a wrong key would first show as a log mismatch.
		pre := *co
		pre.IgnoreTlog, pre.TrustedMaterial = true, nil
		if err := check(&pre); err != nil {
			return nil, legacyFailure(err, a)
		}
	}
	if err := check(co); err != nil {
		return nil, legacyFailure(err, a)
	}

	out := &outcome{tlogIndex: -1}
	if cert != nil {
		s, err := summarize(cert)
		if err != nil {
			return nil, "the certificate does not parse as a Fulcio certificate: " + err.Error()
		}
		if reason := a.checkIdentity(s); reason != "" {
			return nil, reason
		}
		out.issuer, out.subject, out.cert = s.Issuer, s.SubjectAlternativeName, &s
		out.keyID = hex.EncodeToString(cert.SubjectKeyId)
	} else {
		out.keyID = a.key.keyID
	}
	if !co.IgnoreTlog && rb != nil {
		// cosign verified the Rekor bundle's signed entry timestamp, which
		// covers the integrated time.
		out.integratedTime = time.Unix(rb.Payload.IntegratedTime, 0).UTC()
		out.verifiedTime = out.integratedTime
		out.tlogIndex = rb.Payload.LogIndex
	}
	if co.UseSignedTimestamps && cert != nil {
		// Verified above by cosign; only a keyless signature's timestamp
		// dates it (see Signature.VerifiedTime).
		tst, err := cosign.VerifyRFC3161Timestamp(sig, co)
		if err != nil {
			return nil, "the signed timestamp does not verify: " + err.Error()
		}
		if tst != nil && (out.verifiedTime.IsZero() || tst.Time.Before(out.verifiedTime)) {
			out.verifiedTime = tst.Time.UTC()
		}
	}
	payload, err := sig.Payload()
	if err != nil {
		return nil, "the signed payload cannot be read: " + err.Error()
	}
	if !c.legacyAtt {
		var ss simpleSigning
		if err := json.Unmarshal(payload, &ss); err != nil {
			return nil, "the signed payload is not a cosign simple-signing payload: " + err.Error()
		}
		if got := ss.Critical.Image.DockerManifestDigest; got != r.req.Digest.String() {
			return nil, fmt.Sprintf("payload digest mismatch: the signature covers %s, not %s (copied from another image?)", orNone(got), r.req.Digest)
		}
		out.predicateType = SignPredicateType
		return out, ""
	}
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, "the attestation is not a DSSE envelope: " + err.Error()
	}
	stmtRaw, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, "the attestation's DSSE payload is not base64: " + err.Error()
	}
	var st statement
	if err := json.Unmarshal(stmtRaw, &st); err != nil {
		return nil, "the attestation's payload is not an in-toto statement: " + err.Error()
	}
	if reason := r.covers(st); reason != "" {
		return nil, reason
	}
	out.predicateType = st.PredicateType
	out.predicate = st.Predicate
	return out, ""
}

// legacyFailure words a cosign verification error.
func legacyFailure(err error, a *authority) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "matching bundle to payload"), strings.Contains(s, "signature in bundle does not match"):
		return "bundle is tampered: its transparency log entry records a different signature or payload (" + s + ")"
	case strings.Contains(s, "error verifying bundle"):
		if strings.Contains(s, "public key") || strings.Contains(s, "certificate") {
			return "the transparency log entry is for another key or certificate: " + s
		}
		return "transparency log entry does not verify against the trusted root: " + s
	case strings.Contains(s, "RFC3161 timestamp"):
		return "the signed timestamp does not verify: " + s
	case strings.Contains(s, "checking expiry"), strings.Contains(s, "expected a signed timestamp to verify an expired certificate"):
		return "certificate was not valid when the transparency log or timestamp authority saw the signature (signed outside the certificate's lifetime): " + s
	case strings.Contains(s, "x509"), strings.Contains(s, "certificate chain"), strings.Contains(s, "leaf certificate"):
		return "certificate does not chain to a trusted Fulcio CA: " + s
	case strings.Contains(s, "signature"), strings.Contains(s, "envelope"):
		if a.key != nil {
			return "signature does not verify with the given public key"
		}
		return "signature does not verify with the certificate it carries (payload modified?)"
	}
	return "verification failed: " + s
}
