package acctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-openapi/runtime"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// These are the Sigstore services a signer talks to over HTTP, served from
// the in-memory Sigstore so that product code signs through its real
// clients (sigstore-go's Fulcio and Rekor clients, sigstore's Vault KMS
// client) without leaving the machine.

// RekorServer serves Rekor v1's "create entry" API (POST
// /api/v1/log/entries) from the Sigstore's virtual log; entries verify
// against TrustedRootJSON. It returns the base URL and counts entries made.
func (s *Sigstore) RekorServer(tb testing.TB) (string, *atomic.Int64) {
	tb.Helper()
	var made atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/api/v1/log/entries" {
			http.NotFound(w, req)
			return
		}
		entry, err := models.UnmarshalProposedEntry(req.Body, runtime.JSONConsumer())
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		created, err := virtualRekor{s: s}.CreateLogEntry(&entries.CreateLogEntryParams{ProposedEntry: entry, Context: req.Context()})
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		made.Add(1)
		w.Header().Set("ETag", created.ETag)
		w.Header().Set("Location", "/api/v1/log/entries/"+created.ETag)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(created.Payload)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL, &made
}

func writeJSONError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": status, "message": err.Error()})
}

// Fulcio is a Fulcio v2 "signingCert" endpoint over the Sigstore's CA. It
// trusts only identity tokens it minted (Token), checks the proof of
// possession as Fulcio does, and certifies the token's issuer and subject.
type Fulcio struct {
	URL string
	// Issued counts certificates handed out.
	Issued atomic.Int64
	key    *ecdsa.PrivateKey
}

// FulcioServer starts a Fulcio for this Sigstore.
func (s *Sigstore) FulcioServer(tb testing.TB) *Fulcio {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	f := &Fulcio{key: key}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/api/v2/signingCert" {
			http.NotFound(w, req)
			return
		}
		claims, err := f.claims(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
		if err != nil {
			writeJSONError(w, http.StatusUnauthorized, err)
			return
		}
		var body struct {
			PublicKeyRequest struct {
				PublicKey struct {
					Content string `json:"content"`
				} `json:"publicKey"`
				ProofOfPossession string `json:"proofOfPossession"`
			} `json:"publicKeyRequest"`
		}
		if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&body); err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(body.PublicKeyRequest.PublicKey.Content))
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		proof, err := base64.StdEncoding.DecodeString(body.PublicKeyRequest.ProofOfPossession)
		ec, ok := pub.(*ecdsa.PublicKey)
		sum := sha256.Sum256([]byte(claims.subject()))
		if err != nil || !ok || !ecdsa.VerifyASN1(ec, sum[:], proof) {
			writeJSONError(w, http.StatusBadRequest, errors.New("the proof of possession does not verify"))
			return
		}
		der, err := s.issue(pub, Identity{Issuer: claims.Issuer, Subject: claims.subject()})
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, err)
			return
		}
		f.Issued.Add(1)
		chain := []string{
			string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.interCert.Raw})),
			string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.rootCert.Raw})),
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}}})
	}))
	tb.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

type tokenClaims struct {
	Issuer        string `json:"iss"`
	Subject       string `json:"sub"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
}

func (c tokenClaims) subject() string {
	if c.Email != "" {
		return c.Email
	}
	return c.Subject
}

// Token mints an ES256 identity token for subject (an email address, or a
// URI such as a workflow ref) from issuer, which only this Fulcio accepts.
func (f *Fulcio) Token(tb testing.TB, issuer, subject string) string {
	tb.Helper()
	c := tokenClaims{Issuer: issuer, Subject: subject}
	if strings.Contains(subject, "@") && !strings.Contains(subject, "://") {
		c.Email, c.EmailVerified = subject, true
	}
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`))
	payload, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	signed := head + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	sig, err := ecdsa.SignASN1(rand.Reader, f.key, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *Fulcio) claims(token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, errors.New("the identity token is not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return tokenClaims{}, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.VerifyASN1(&f.key.PublicKey, sum[:], sig) {
		return tokenClaims{}, errors.New("the identity token's signature does not verify")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return tokenClaims{}, err
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenClaims{}, err
	}
	return c, nil
}

// PKCS8PEM is the private key as an unencrypted PKCS #8 PEM block.
func (k *KeyPair) PKCS8PEM(tb testing.TB) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// CosignPEM is the private key as `cosign generate-key-pair` writes it:
// PKCS #8 encrypted with the password (scrypt + secretbox), in an
// `ENCRYPTED SIGSTORE PRIVATE KEY` block.
func (k *KeyPair) CosignPEM(tb testing.TB, password string) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: enc}))
}

// VaultTransit serves the part of HashiCorp Vault's transit engine that
// sigstore's hashivault:// KMS uses (read a key, sign a digest), with key as
// the transit key `name`. Point VAULT_ADDR at URL (any VAULT_TOKEN).
type VaultTransit struct {
	URL string
	// Signed counts signatures made.
	Signed atomic.Int64
}

// NewVaultTransit starts the fake Vault.
func NewVaultTransit(tb testing.TB, keyName string, key *KeyPair) *VaultTransit {
	tb.Helper()
	v := &VaultTransit{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("X-Vault-Token") == "" {
			writeJSONError(w, http.StatusForbidden, errors.New("permission denied"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case req.Method == http.MethodGet && req.URL.Path == "/v1/transit/keys/"+keyName:
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
				"latest_version": 1, "type": "ecdsa-p256",
				"keys": map[string]any{"1": map[string]any{"name": "P-256", "public_key": key.PublicKeyPEM}},
			}})
		case (req.Method == http.MethodPost || req.Method == http.MethodPut) && req.URL.Path == "/v1/transit/sign/"+keyName+"/sha2-256":
			var body struct {
				Input     string `json:"input"`
				Prehashed bool   `json:"prehashed"`
			}
			if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
				writeJSONError(w, http.StatusBadRequest, err)
				return
			}
			digest, err := base64.StdEncoding.DecodeString(body.Input)
			if err != nil || !body.Prehashed || len(digest) != sha256.Size {
				writeJSONError(w, http.StatusBadRequest, errors.New("expected a prehashed SHA-256 digest"))
				return
			}
			sig, err := ecdsa.SignASN1(rand.Reader, key.Private, digest)
			if err != nil {
				writeJSONError(w, http.StatusInternalServerError, err)
				return
			}
			v.Signed.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"signature": "vault:v1:" + base64.StdEncoding.EncodeToString(sig), "key_version": 1}})
		default:
			writeJSONError(w, http.StatusNotFound, errors.New("no handler for "+req.Method+" "+req.URL.Path))
		}
	}))
	tb.Cleanup(srv.Close)
	v.URL = srv.URL
	return v
}
