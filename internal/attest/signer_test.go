package attest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/attest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

func pemOf(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// Each key form a user may hold signs, and a wrong password or a block that
// is not a private key is refused in words that name neither key nor
// password.
func TestKeyForms(t *testing.T) {
	k := acctest.NewKeyPair(t)
	sec1, err := x509.MarshalECPrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384der, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	cosignKey := k.CosignPEM(t, "correct horse")
	for _, tc := range []struct {
		name, pem, password string
		wantErr             string
	}{
		{"cosign key with its password", cosignKey, "correct horse", ""},
		{"cosign key without a password set", k.CosignPEM(t, ""), "", ""},
		{"unencrypted PKCS #8 EC key", k.PKCS8PEM(t), "", ""},
		{"SEC 1 EC key", pemOf(t, "EC PRIVATE KEY", sec1), "", ""},
		{"P-384 key", pemOf(t, "PRIVATE KEY", p384der), "", ""},
		{"ed25519 key", pemOf(t, "PRIVATE KEY", ed), "", ""},
		{"PKCS #1 RSA key", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "", ""},
		{"cosign key with the wrong password", cosignKey, "wrong horse", "password does not decrypt"},
		{"cosign key without its password", cosignKey, "", "password does not decrypt"},
		{"a public key", k.PublicKeyPEM, "", `"PUBLIC KEY" PEM block, not a private key`},
		{"not PEM", "cosign.key", "", "no PEM block"},
		{"encrypted PKCS #8", pemOf(t, "ENCRYPTED PRIVATE KEY", []byte("x")), "", "cosign import-key-pair"},
		{"corrupt PKCS #8", pemOf(t, "PRIVATE KEY", []byte("not DER")), "", "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := attest.NewSigner(context.Background(), attest.SignerOptions{PrivateKeyPEM: []byte(tc.pem), Password: []byte(tc.password)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if tc.password != "" && strings.Contains(err.Error(), tc.password) {
					t.Errorf("the error quotes the password: %v", err)
				}
				if body := strings.Split(tc.pem, "\n"); len(body) > 1 && len(body[1]) > 16 && strings.Contains(err.Error(), body[1][:16]) {
					t.Errorf("the error quotes the key: %v", err)
				}
				if strings.Contains(tc.wantErr, "password") && !errors.Is(err, attest.ErrWrongPassword) {
					t.Errorf("a wrong password is not ErrWrongPassword: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind() != attest.KindKey || len(s.KeyID()) != 64 {
				t.Errorf("kind %q, key id %q", s.Kind(), s.KeyID())
			}
			signed, err := s.Sign(context.Background(), []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
			if err != nil || len(signed.Bundle) == 0 || signed.TLogIndex != -1 {
				t.Fatalf("Sign = %+v, %v", signed, err)
			}
		})
	}
}

func TestSignerNeedsExactlyOneSigner(t *testing.T) {
	k := acctest.NewKeyPair(t)
	for _, o := range []attest.SignerOptions{
		{},
		{PrivateKeyPEM: []byte(k.PKCS8PEM(t)), KMSRef: "hashivault://release"},
		{KMSRef: "hashivault://release", Keyless: &attest.Keyless{IDToken: "t"}},
	} {
		if _, err := attest.NewSigner(context.Background(), o); err == nil || !strings.Contains(err.Error(), "exactly one signer") {
			t.Errorf("NewSigner(%+v) = %v", o.KMSRef, err)
		}
	}
	if _, err := attest.NewSigner(context.Background(), attest.SignerOptions{KMSRef: "vault://release"}); err == nil || !strings.Contains(err.Error(), "not a KMS reference") {
		t.Errorf("unknown KMS scheme: %v", err)
	}
	if _, err := attest.NewSigner(context.Background(), attest.SignerOptions{PrivateKeyPEM: []byte(k.PKCS8PEM(t)), TLogUpload: true, RekorURL: "ftp://rekor"}); err == nil || !strings.Contains(err.Error(), "rekor_url must be an http(s) URL") {
		t.Errorf("bad rekor_url: %v", err)
	}
	// Plain HTTP only on loopback, whoever builds the options.
	for _, o := range []attest.SignerOptions{
		{PrivateKeyPEM: []byte(k.PKCS8PEM(t)), TLogUpload: true, RekorURL: "http://rekor.example.com"},
		{PrivateKeyPEM: []byte(k.PKCS8PEM(t)), TLogUpload: true, RekorURL: "http://10.0.0.5:3000"},
		{Keyless: &attest.Keyless{IDToken: "t", FulcioURL: "http://fulcio.example.com"}, TLogUpload: true, RekorURL: "https://rekor.example.com"},
	} {
		if _, err := attest.NewSigner(context.Background(), o); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
			t.Errorf("NewSigner(rekor %q, keyless %+v) = %v, want a plain HTTP refusal", o.RekorURL, o.Keyless, err)
		}
	}
	for _, rekor := range []string{"http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080", "https://rekor.example.com"} {
		if _, err := attest.NewSigner(context.Background(), attest.SignerOptions{PrivateKeyPEM: []byte(k.PKCS8PEM(t)), TLogUpload: true, RekorURL: rekor}); err != nil {
			t.Errorf("rekor_url %s refused: %v", rekor, err)
		}
	}
}

// hashivault:// through sigstore's Vault client, against a Vault transit
// engine served in-process: the key never leaves "Vault", and what it signs
// verifies with its public key.
func TestKMSSigner(t *testing.T) {
	f := newFixture(t, acctest.NewRegistry(t))
	vault := acctest.NewVaultTransit(t, "release", f.key)
	t.Setenv("VAULT_ADDR", vault.URL)
	t.Setenv("VAULT_TOKEN", "test-token")
	s, err := attest.NewSigner(context.Background(), attest.SignerOptions{KMSRef: "hashivault://release", TLogUpload: true, RekorURL: f.rekorURL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Kind() != attest.KindKMS {
		t.Errorf("kind = %q", s.Kind())
	}
	f.publish(t, s, attest.VulnPredicateType, map[string]any{"kms": true}, f.digest, f.subject, nil)
	if vault.Signed.Load() != 1 {
		t.Errorf("Vault signed %d times, want 1", vault.Signed.Load())
	}
	got := onlyAttestation(t, f.verify(t, "required", keyAuthority(f.key), f.digest, attest.VulnPredicateType))
	if got.TLogIndex < 0 {
		t.Errorf("not logged: %+v", got)
	}
	t.Run("unknown key", func(t *testing.T) {
		s, err := attest.NewSigner(context.Background(), attest.SignerOptions{KMSRef: "hashivault://missing"})
		if err == nil {
			s.Close()
			t.Fatal("a KMS key Vault does not have gave a signer")
		}
		if !strings.Contains(err.Error(), "hashivault://missing") {
			t.Errorf("the error does not name the key: %v", err)
		}
	})
}

// Keyless through sigstore-go's Fulcio and Rekor clients against the
// in-memory Sigstore served over HTTP: one certificate for both predicates,
// and the identity in it is what imageguard_verify's keyless authority
// checks.
func TestKeylessSigner(t *testing.T) {
	const issuer = "https://token.actions.githubusercontent.com"
	const subject = "https://github.com/acme/api/.github/workflows/attest.yml@refs/heads/main"
	f := newFixture(t, acctest.NewRegistry(t))
	fulcio := f.ss.FulcioServer(t)
	s, err := attest.NewSigner(context.Background(), attest.SignerOptions{
		Keyless: &attest.Keyless{FulcioURL: fulcio.URL, IDToken: fulcio.Token(t, issuer, subject)}, TLogUpload: true, RekorURL: f.rekorURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.publish(t, s, attest.VulnPredicateType, map[string]any{}, f.digest, f.subject, nil)
	f.publish(t, s, attest.VerdictPredicateType, map[string]any{}, f.digest, f.subject, nil)
	if n := fulcio.Issued.Load(); n != 1 {
		t.Errorf("Fulcio issued %d certificates for two predicates, want 1", n)
	}
	auth := verify.Authority{Name: "ci", Keyless: &verify.KeylessAuthority{Issuer: issuer, Subject: subject}}
	for _, pt := range []string{attest.VulnPredicateType, attest.VerdictPredicateType} {
		got := onlyAttestation(t, f.verify(t, "required", auth, f.digest, pt))
		if got.Subject != subject || got.Issuer != issuer {
			t.Errorf("%s verified for %q / %q", pt, got.Issuer, got.Subject)
		}
	}
	wrong := verify.Authority{Name: "ci", Keyless: &verify.KeylessAuthority{Issuer: issuer, Subject: subject + "-other"}}
	if ar := f.verify(t, "required", wrong, f.digest, attest.VulnPredicateType); len(ar.Attestations) != 0 {
		t.Errorf("verified for another identity: %+v", ar.Attestations)
	}

	t.Run("error paths", func(t *testing.T) {
		other := acctest.NewSigstore(t).FulcioServer(t)
		for _, tc := range []struct {
			name string
			o    attest.SignerOptions
			want string
		}{
			{"no token", attest.SignerOptions{Keyless: &attest.Keyless{FulcioURL: fulcio.URL}, TLogUpload: true, RekorURL: f.rekorURL}, "needs an OIDC identity token"},
			{"no transparency log", attest.SignerOptions{Keyless: &attest.Keyless{FulcioURL: fulcio.URL, IDToken: fulcio.Token(t, issuer, subject)}}, "needs the transparency log"},
			{"a token Fulcio does not accept", attest.SignerOptions{Keyless: &attest.Keyless{FulcioURL: fulcio.URL, IDToken: other.Token(t, issuer, subject)}, TLogUpload: true, RekorURL: f.rekorURL}, "Fulcio returned 401"},
			{"a token that is not a JWT", attest.SignerOptions{Keyless: &attest.Keyless{FulcioURL: fulcio.URL, IDToken: "opaque"}, TLogUpload: true, RekorURL: f.rekorURL}, "identity token"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, err := attest.NewSigner(context.Background(), tc.o)
				if err == nil {
					_, err = s.Sign(context.Background(), []byte(`{}`))
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				if tc.o.Keyless.IDToken != "" && strings.Contains(err.Error(), tc.o.Keyless.IDToken) {
					t.Errorf("the error quotes the token: %v", err)
				}
			})
		}
	})
}
