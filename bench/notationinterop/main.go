// Command notationinterop is the Go side of bench/notation_interop.sh: it
// pushes test images to a registry on loopback, makes the certificates
// the notation CLI signs with (a root and intermediate CA of our own,
// crypto/x509, issuing code-signing certificates; a second, untrusted CA;
// a certificate that expires seconds after it is made), and copies one
// image's Notary Project signatures onto another (the tamper case).
//
//	notationinterop push -ref HOST/REPO:TAG -seed S
//	notationinterop certs -dir DIR [-short 8s]
//	notationinterop copy-sig -repo HOST/REPO -from DIGEST -to DIGEST
//
// Only for the benchmark: no retries, no credentials (the registry is
// anonymous on 127.0.0.1).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	notationregistry "github.com/notaryproject/notation-go/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: notationinterop push|certs|copy-sig [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "push":
		err = cmdPush(os.Args[2:])
	case "certs":
		err = cmdCerts(os.Args[2:])
	case "copy-sig":
		err = cmdCopySig(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "notationinterop:", err)
		os.Exit(1)
	}
}

// push writes a small image (a seed file varies the digest) and prints its
// digest.
func cmdPush(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	ref := fs.String("ref", "", "HOST/REPO:TAG")
	seed := fs.String("seed", "", "content of /seed, to vary the digest")
	_ = fs.Parse(args)
	r, err := name.ParseReference(*ref, name.WeakValidation)
	if err != nil {
		return err
	}
	img := acctest.Image(acctest.Config{User: "1000"}, acctest.Layer(acctest.File{Path: "/seed", Content: *seed + "\n"}))
	if err := remote.Write(r, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}

type ca struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func create(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, priv *ecdsa.PrivateKey) (*x509.Certificate, error) {
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = sn
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func newCA(org string) (*ca, error) {
	now := time.Now()
	c := &ca{}
	var err error
	if c.rootKey, err = newKey(); err != nil {
		return nil, err
	}
	if c.interKey, err = newKey(); err != nil {
		return nil, err
	}
	if c.root, err = create(&x509.Certificate{Subject: pkix.Name{Country: []string{"US"}, Organization: []string{org}, CommonName: org + " Root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1}, nil, &c.rootKey.PublicKey, c.rootKey); err != nil {
		return nil, err
	}
	if c.inter, err = create(&x509.Certificate{Subject: pkix.Name{Country: []string{"US"}, Organization: []string{org}, CommonName: org + " Signing CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true}, c.root, &c.interKey.PublicKey, c.rootKey); err != nil {
		return nil, err
	}
	return c, nil
}

// issue writes <dir>/<file>.crt (leaf, intermediate, root) and .key.
func (c *ca) issue(dir, file, cn string, lifetime time.Duration) error {
	key, err := newKey()
	if err != nil {
		return err
	}
	now := time.Now()
	leaf, err := create(&x509.Certificate{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"acme"}, CommonName: cn},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(lifetime), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, BasicConstraintsValid: true}, c.inter, &key.PublicKey, c.interKey)
	if err != nil {
		return err
	}
	var chain []byte
	for _, cert := range []*x509.Certificate{leaf, c.inter, c.root} {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, file+".crt"), chain, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, file+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// certs makes acme-root.pem (trusted) and, under it, release (trusted
// identity), intern (another identity) and short (expires after -short);
// evil-root.pem and evil-release under it (same subject, untrusted CA).
func cmdCerts(args []string) error {
	fs := flag.NewFlagSet("certs", flag.ExitOnError)
	dir := fs.String("dir", "", "output directory")
	short := fs.Duration("short", 8*time.Second, "lifetime of short.crt")
	_ = fs.Parse(args)
	acme, err := newCA("acme")
	if err != nil {
		return err
	}
	evil, err := newCA("evil")
	if err != nil {
		return err
	}
	for _, w := range []struct {
		c                *ca
		file, cn         string
		lifetime         time.Duration
		rootFile, prefix string
	}{
		{acme, "release", "release", 24 * time.Hour, "acme-root.pem", ""},
		{acme, "intern", "intern", 24 * time.Hour, "", ""},
		{acme, "short", "release", *short, "", ""},
		{evil, "evil-release", "release", 24 * time.Hour, "evil-root.pem", ""},
	} {
		if err := w.c.issue(*dir, w.file, w.cn, w.lifetime); err != nil {
			return err
		}
		if w.rootFile != "" {
			if err := os.WriteFile(filepath.Join(*dir, w.rootFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.c.root.Raw}), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// copy-sig attaches every Notary Project signature of -from to -to
// unchanged, through the referrers tag schema notation uses on a registry
// without the referrers API.
func cmdCopySig(args []string) error {
	fs := flag.NewFlagSet("copy-sig", flag.ExitOnError)
	repo := fs.String("repo", "", "HOST/REPO")
	from := fs.String("from", "", "digest signed")
	to := fs.String("to", "", "digest to copy the signatures to")
	_ = fs.Parse(args)
	ctx := context.Background()
	rr, err := orasremote.NewRepository(*repo)
	if err != nil {
		return err
	}
	rr.PlainHTTP = true
	if err := rr.SetReferrersCapability(false); err != nil {
		return err
	}
	r := notationregistry.NewRepository(rr)
	fromDesc, err := r.Resolve(ctx, *from)
	if err != nil {
		return err
	}
	toDesc, err := r.Resolve(ctx, *to)
	if err != nil {
		return err
	}
	n := 0
	err = r.ListSignatures(ctx, fromDesc, func(list []ocispec.Descriptor) error {
		for _, d := range list {
			blob, bd, err := r.FetchSignatureBlob(ctx, d)
			if err != nil {
				return err
			}
			if _, md, err := r.PushSignature(ctx, bd.MediaType, blob, toDesc, nil); err != nil {
				return err
			} else {
				fmt.Printf("copied signature %s of %s to %s as %s\n", d.Digest, *from, *to, md.Digest)
			}
			n++
		}
		return nil
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("%s has no Notary Project signature", *from)
	}
	return err
}
