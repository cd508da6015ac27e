// Command demoregistry serves go-containerregistry's in-process registry on
// loopback and pushes the demo images, for `make demo` on a machine with no
// Docker and no internet. It writes its host:port to the file given by
// -addr-file and serves until interrupted.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

func main() {
	addrFile := flag.String("addr-file", "", "write host:port here once the images are pushed")
	trustDir := flag.String("trust-dir", "", "write the demo signing public key (cosign.pub) and Sigstore trusted root (trusted_root.json) here")
	flag.Parse()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	handler := ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	go func() { _ = http.Serve(ln, handler) }()
	host := ln.Addr().String()

	api := acctest.Image(acctest.Config{User: "10001", Labels: map[string]string{"org.opencontainers.image.source": "https://example.com/demo/api"}, ExposedPorts: []string{"8080/tcp"}},
		acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}))
	push(host+"/demo/api:1.0", func(ref name.Reference) error { return remote.Write(ref, api) })

	amd := acctest.Image(acctest.Config{User: "10001"}, acctest.DebianLayer("12", acctest.Package{Name: "libc6", Version: "2.36-9+deb12u4", Source: "glibc"}))
	arm := acctest.Image(acctest.Config{User: "10001", Architecture: "arm64", Variant: "v8"}, acctest.DebianLayer("12", acctest.Package{Name: "libc6", Version: "2.36-9+deb12u4", Source: "glibc"}))
	push(host+"/demo/web:2.3", func(ref name.Reference) error { return remote.WriteIndex(ref, acctest.Index(amd, arm)) })

	// The demo vulnerability database, published as Trivy publishes its own.
	tb := &demoTB{}
	defer tb.cleanup()
	now := time.Now().UTC()
	reg := &acctest.Registry{Host: host}
	reg.PushTrivyDB(tb, "aquasecurity/trivy-db:2", acctest.TrivyDBArchive(tb, []string{acctest.FixtureAdvisories}, acctest.FreshDBMeta(now)))

	// One image that passes the scan gate and one that fails it.
	patched := acctest.Image(acctest.Config{User: "10001"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"}, acctest.Package{Name: "busybox", Version: "1.36.1-r30"}))
	push(host+"/demo/payments:2.0", func(ref name.Reference) error { return remote.Write(ref, patched) })
	legacy := acctest.Image(acctest.Config{}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"}, acctest.Package{Name: "busybox", Version: "1.36.1-r29"}),
		acctest.NpmLayer("srv/app", acctest.Package{Name: "lodash", Version: "4.17.20"}))
	push(host+"/demo/legacy:0.9", func(ref name.Reference) error { return remote.Write(ref, legacy) })

	// Sign the patched image as `cosign sign` v3 does (a Sigstore bundle
	// attached as an OCI referrer, logged in an in-memory transparency log);
	// the legacy image stays unsigned.
	key := acctest.NewKeyPair(tb)
	sigstore := acctest.NewSigstore(tb)
	payments, err := patched.Digest()
	if err != nil {
		log.Fatal(err)
	}
	reg.SignBundle(tb, "demo/payments", payments, acctest.Signer{Key: key, Sigstore: sigstore, TLog: true})
	if *trustDir != "" {
		if err := os.WriteFile(filepath.Join(*trustDir, "cosign.pub"), []byte(key.PublicKeyPEM), 0o600); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*trustDir, "trusted_root.json"), []byte(sigstore.TrustedRootJSON(tb)), 0o600); err != nil {
			log.Fatal(err)
		}
	}

	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(host), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("demo registry on %s\n", host)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// demoTB lets the demo reuse the test harness's builders outside a test:
// failures end the program.
type demoTB struct {
	testing.TB
	dirs []string
}

func (d *demoTB) Helper()                           {}
func (d *demoTB) Fatal(args ...any)                 { log.Fatal(args...) }
func (d *demoTB) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }
func (d *demoTB) Cleanup(func())                    {}
func (d *demoTB) TempDir() string {
	dir, err := os.MkdirTemp("", "imageguard-demo-")
	if err != nil {
		log.Fatal(err)
	}
	d.dirs = append(d.dirs, dir)
	return dir
}

func (d *demoTB) cleanup() {
	for _, dir := range d.dirs {
		_ = os.RemoveAll(dir)
	}
}

func push(ref string, write func(name.Reference) error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		log.Fatal(err)
	}
	if err := write(r); err != nil {
		log.Fatalf("push %s: %v", ref, err)
	}
}
