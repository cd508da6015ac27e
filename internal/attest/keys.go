package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/cosign/v3/pkg/cosign"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/imageguard/terraform-provider-imageguard/internal/kmsref"
)

// ErrWrongPassword is a cosign private key the password does not decrypt.
var ErrWrongPassword = errors.New("the password does not decrypt the private key (a cosign key, `ENCRYPTED SIGSTORE PRIVATE KEY`, is encrypted with the password given to `cosign generate-key-pair`)")

// loadPrivateKey reads a private key in PEM: cosign's encrypted format
// (`ENCRYPTED SIGSTORE PRIVATE KEY` or the older `ENCRYPTED COSIGN PRIVATE
// KEY`), or an unencrypted PKCS #8, SEC 1 (EC) or PKCS #1 (RSA) key, for
// which the password is not used. Errors never quote the key.
func loadPrivateKey(pemBytes, password []byte) (signature.SignerVerifier, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("private_key_pem holds no PEM block: give the key file's content, e.g. file(\"cosign.key\")")
	}
	if len(bytes.TrimSpace(rest)) > 0 && bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, errors.New("private_key_pem holds more than one PEM block: give exactly one private key")
	}
	var pk crypto.PrivateKey
	var err error
	switch block.Type {
	case cosign.SigstorePrivateKeyPemType, cosign.CosignPrivateKeyPemType:
		sv, err := cosign.LoadPrivateKey(pemBytes, password, nil)
		if err != nil {
			if strings.Contains(err.Error(), "decrypt") {
				return nil, ErrWrongPassword
			}
			return nil, fmt.Errorf("reading the cosign private key: %w", err)
		}
		return sv, nil
	case cosign.PrivateKeyPemType:
		pk, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case cosign.ECPrivateKeyPemType:
		pk, err = x509.ParseECPrivateKey(block.Bytes)
	case cosign.RSAPrivateKeyPemType:
		pk, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("an encrypted PKCS #8 key (`ENCRYPTED PRIVATE KEY`) is not supported: convert it with `cosign import-key-pair`, which writes cosign's encrypted format")
	default:
		return nil, fmt.Errorf("private_key_pem is a %q PEM block, not a private key: give a cosign key (`ENCRYPTED SIGSTORE PRIVATE KEY`) or an unencrypted PKCS #8 key (`PRIVATE KEY`)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("private_key_pem does not parse as a %s: %w", block.Type, err)
	}
	return signature.LoadDefaultSignerVerifier(pk, options.WithED25519ph())
}

// loadKMS opens a KMS key in cosign's syntax (hashivault://, awskms://,
// gcpkms://, azurekms://); credentials come from the KMS's usual
// environment (VAULT_ADDR/VAULT_TOKEN, AWS_*, GOOGLE_APPLICATION_CREDENTIALS,
// AZURE_*).
func loadKMS(ctx context.Context, ref string) (signature.SignerVerifier, error) {
	if err := kmsref.Check(ref); err != nil {
		return nil, err
	}
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("opening KMS key %s: %w", ref, err)
	}
	return sv, nil
}

// keypair is a sign.Keypair over a long-lived key (local or KMS), with
// cosign's key hint (base64 SHA-256 of the DER public key) so verifiers can
// tell which key a bundle claims.
type keypair struct {
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	pubPEM string
	hint   []byte
	keyID  string
	keyAlg string
	alg    signature.AlgorithmDetails
}

func newKeypair(sv signature.SignerVerifier) (*keypair, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("reading the public key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, err
	}
	k := &keypair{sv: sv, pub: pub, pubPEM: string(pubPEM)}
	sum := sha256.Sum256(der)
	k.hint = []byte(base64.StdEncoding.EncodeToString(sum[:]))
	k.keyID = hex.EncodeToString(sum[:])
	switch pub.(type) {
	case *ecdsa.PublicKey:
		k.keyAlg = "ECDSA"
	case *rsa.PublicKey:
		k.keyAlg = "RSA"
	case ed25519.PublicKey:
		k.keyAlg = "ED25519"
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	if k.alg, err = signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph()); err != nil {
		return nil, fmt.Errorf("choosing the signature algorithm: %w", err)
	}
	return k, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }
func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}
func (k *keypair) GetHint() []byte                  { return k.hint }
func (k *keypair) GetKeyAlgorithm() string          { return k.keyAlg }
func (k *keypair) GetPublicKey() crypto.PublicKey   { return k.pub }
func (k *keypair) GetPublicKeyPem() (string, error) { return k.pubPEM, nil }

// SignData signs data, handing a KMS the digest rather than the data.
func (k *keypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	opts := []signature.SignOption{options.WithContext(ctx)}
	var digest []byte
	if h := k.alg.GetHashType(); h != 0 {
		hasher := h.New()
		hasher.Write(data)
		digest = hasher.Sum(nil)
		opts = append(opts, options.WithDigest(digest), options.WithCryptoSignerOpts(h))
	}
	sig, err := k.sv.SignMessage(bytes.NewReader(data), opts...)
	if err != nil {
		return nil, nil, err
	}
	return sig, digest, nil
}
