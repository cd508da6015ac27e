package verify

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
)

// statement is the part of an in-toto statement we judge.
type statement struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate json.RawMessage `json:"predicate"`
}

// unverifiedPredicateType peeks at a bundle's statement, only to file a
// failure under the right request.
func unverifiedPredicateType(b *bundle.Bundle) string {
	env := b.GetDsseEnvelope()
	if env == nil {
		return SignPredicateType // a message signature can only be a signature
	}
	var st statement
	if json.Unmarshal(env.GetPayload(), &st) != nil {
		return ""
	}
	return st.PredicateType
}

// covers checks that a signed statement names the digest, and words the
// copied-signature case.
func (r *run) covers(st statement) string {
	var named []string
	for _, s := range st.Subject {
		for alg, h := range s.Digest {
			if alg == r.req.Digest.Algorithm && strings.EqualFold(h, r.req.Digest.Hex) {
				return ""
			}
			named = append(named, alg+":"+h)
		}
	}
	if len(named) == 0 {
		return "payload digest mismatch: the signed statement names no subject digest"
	}
	return fmt.Sprintf("payload digest mismatch: the signature covers %s, not %s (copied from another image?)", strings.Join(named, ", "), r.req.Digest)
}

// verifyBundle checks a Sigstore bundle against one authority with
// sigstore-go's verifier, then checks identity, subject digest and
// predicate ourselves so that each failure has its own words.
func (r *run) verifyBundle(c *candidate, a *authority) (*outcome, string) {
	b := c.bundle
	vc, err := b.VerificationContent()
	if err != nil {
		return nil, "bundle is tampered or malformed: " + err.Error()
	}
	entries, err := b.TlogEntries()
	if err != nil {
		return nil, "bundle is tampered or malformed: " + err.Error()
	}
	timestamps, err := b.Timestamps()
	if err != nil {
		return nil, "bundle is tampered or malformed: " + err.Error()
	}
	cert := vc.Certificate()
	switch {
	case a.keyless != nil && cert == nil:
		return nil, "signed with a public key, not a Fulcio certificate: this authority is keyless"
	case a.key != nil && cert != nil:
		if s, err := summarize(cert); err == nil {
			return nil, fmt.Sprintf("signed keyless (certificate issuer %s subject %s), not with the given public key", orNone(s.Issuer), orNone(s.SubjectAlternativeName))
		}
		return nil, "signed with a certificate, not with the given public key"
	}
	if cert != nil && len(entries) == 0 && len(timestamps) == 0 {
		return nil, keylessWithoutProofOfTime
	}
	if r.v.tlogRequired && len(entries) == 0 {
		return nil, `no transparency log entry: the bundle has none and tlog is "required" (sign with the transparency log, or set tlog = "optional" to accept key signatures without one)`
	}

	var opts []sgverify.VerifierOption
	tm := r.tm
	useTlog := false
	if a.key != nil {
		tm = withKey(r.tm, a.key)
		useTlog = r.v.tlogRequired
		if useTlog {
			// Observer timestamps: a log entry's time is reported (and
			// counts, see earliestVerifiedTime) only when its signed entry
			// timestamp verifies; a Rekor v2 entry, which has none, passes
			// with a signed timestamp, as cosign signs with one then.
			opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1))
		} else {
			opts = append(opts, sgverify.WithNoObserverTimestamps())
		}
	} else {
		useTlog = r.v.tlogRequired || len(entries) > 0
		if useTlog {
			opts = append(opts, sgverify.WithTransparencyLog(1))
		}
		if useTlog || len(timestamps) > 0 {
			opts = append(opts, sgverify.WithObserverTimestamps(1))
		} else {
			opts = append(opts, sgverify.WithCurrentTime())
		}
		if len(r.tm.CTLogs()) > 0 {
			opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
		}
	}
	verifier, err := sgverify.NewVerifier(tm, opts...)
	if err != nil {
		return nil, "verification could not be set up: " + err.Error()
	}

	// A DSSE envelope is checked against its signature here and against the
	// digest below; a message signature is over the digest itself.
	artifact := sgverify.WithoutArtifactUnsafe()
	msg := b.GetMessageSignature()
	msgAlg := ""
	if msg != nil {
		switch msg.GetMessageDigest().GetAlgorithm() {
		case protocommon.HashAlgorithm_SHA2_256:
			msgAlg = "sha256"
		case protocommon.HashAlgorithm_SHA2_384:
			msgAlg = "sha384"
		case protocommon.HashAlgorithm_SHA2_512:
			msgAlg = "sha512"
		default:
			return nil, fmt.Sprintf("the message signature is over a %s digest, which cannot name an image", msg.GetMessageDigest().GetAlgorithm())
		}
		artifact = sgverify.WithArtifactDigest(msgAlg, msg.GetMessageDigest().GetDigest())
	}
	policy := []sgverify.PolicyOption{sgverify.WithoutIdentitiesUnsafe()}
	if a.key != nil {
		policy = []sgverify.PolicyOption{sgverify.WithKey()}
	}
	if a.key != nil && useTlog {
		// The log entry names the signer's key, so a wrong key would first
		// show as a log mismatch: check the signature alone to say so plainly.
		pre, err := sgverify.NewVerifier(withKey(r.tm, a.key), sgverify.WithNoObserverTimestamps())
		if err != nil {
			return nil, "verification could not be set up: " + err.Error()
		}
		if _, err := pre.Verify(b, sgverify.NewPolicy(artifact, policy...)); err != nil {
			return nil, r.bundleFailure(err, a, vc)
		}
	}
	res, err := verifier.Verify(b, sgverify.NewPolicy(artifact, policy...))
	if err != nil {
		return nil, r.bundleFailure(err, a, vc)
	}

	out := &outcome{tlogIndex: -1}
	if cert != nil {
		s := res.Signature.Certificate
		if reason := a.checkIdentity(*s); reason != "" {
			return nil, reason
		}
		out.issuer, out.subject, out.cert = s.Issuer, s.SubjectAlternativeName, s
		out.keyID = hex.EncodeToString(cert.SubjectKeyId)
	} else {
		out.keyID = a.key.keyID
	}
	out.verifiedTime = earliestVerifiedTime(res.VerifiedTimestamps, cert != nil)
	if useTlog && len(entries) > 0 {
		out.tlogIndex = entries[0].LogIndex()
		for _, ts := range res.VerifiedTimestamps {
			if ts.Type == "Tlog" {
				out.integratedTime = ts.Timestamp.UTC()
				break
			}
		}
		if out.integratedTime.IsZero() && !entries[0].IntegratedTime().IsZero() {
			out.integratedTime = entries[0].IntegratedTime().UTC()
		}
	}
	if msg != nil {
		got := msgAlg + ":" + hex.EncodeToString(msg.GetMessageDigest().GetDigest())
		if got != r.req.Digest.String() {
			return nil, fmt.Sprintf("payload digest mismatch: the signature covers %s, not %s (copied from another image?)", got, r.req.Digest)
		}
		out.predicateType = SignPredicateType
		return out, ""
	}
	var st statement
	if err := json.Unmarshal(b.GetDsseEnvelope().GetPayload(), &st); err != nil {
		return nil, "the signed payload is not an in-toto statement: " + err.Error()
	}
	if reason := r.covers(st); reason != "" {
		return nil, reason
	}
	out.predicateType = st.PredicateType
	out.predicate = st.Predicate
	return out, ""
}

// earliestVerifiedTime is the earliest time sigstore-go verified: a log
// entry's integrated time, and for a keyless signature (whose certificate
// lived minutes around it) an RFC 3161 timestamp. The verifier's own clock
// ("CurrentTime") never counts.
func earliestVerifiedTime(ts []sgverify.TimestampVerificationResult, keyless bool) time.Time {
	var first time.Time
	for _, t := range ts {
		if t.Type != "Tlog" && (t.Type != "TimestampAuthority" || !keyless) {
			continue
		}
		if first.IsZero() || t.Timestamp.Before(first) {
			first = t.Timestamp
		}
	}
	return first.UTC()
}

// bundleFailure words a sigstore-go verification error.
func (r *run) bundleFailure(err error, a *authority, vc sgverify.VerificationContent) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "outside certificate validity"),
		strings.Contains(s, "failed to verify leaf certificate") && strings.Contains(s, "expired or is not yet valid"):
		return "certificate was not valid when the transparency log or timestamp authority saw the signature (signed outside the certificate's lifetime): " + s
	case strings.Contains(s, "failed to verify log inclusion"):
		if strings.Contains(s, "does not match") {
			return "bundle is tampered: its transparency log entry records a different signature or payload than the bundle holds (" + s + ")"
		}
		if strings.Contains(s, "not enough verified log entries") {
			return "transparency log entry does not verify against the trusted root (its signed entry timestamp is invalid, or the log is not in the trusted root): " + s
		}
		return "transparency log entry does not verify against the trusted root: " + s
	case strings.Contains(s, "failed to verify timestamps"):
		return "no verifiable transparency log time or signed timestamp proves when it was signed: " + s
	case strings.Contains(s, "failed to verify leaf certificate"):
		return "certificate does not chain to a trusted Fulcio CA at signing time: " + s
	case strings.Contains(s, "failed to verify signed certificate timestamp"):
		return "certificate has no valid SCT from a trusted CT log: " + s
	case strings.Contains(s, "failed to verify signature"):
		if a.key == nil {
			return "bundle is tampered: the signature does not verify with the certificate it carries"
		}
		if pk := vc.PublicKey(); pk != nil && pk.Hint() != "" && pk.Hint() == a.key.hint {
			return "bundle is tampered: the bundle names the given public key, but its signature does not verify over its content"
		}
		return "signature does not verify with the given public key"
	}
	return "verification failed: " + s
}
