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
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

func main() {
	addrFile := flag.String("addr-file", "", "write host:port here once the images are pushed")
	flag.Parse()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	handler := ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	go func() { _ = http.Serve(ln, handler) }()
	host := ln.Addr().String()

	api := acctest.Image(acctest.Config{User: "10001", Labels: map[string]string{"org.opencontainers.image.source": "https://example.com/demo/api"}, ExposedPorts: []string{"8080/tcp"}},
		acctest.AlpineLayer("3.20.3", acctest.Package{Name: "musl", Version: "1.2.5-r0"}))
	push(host+"/demo/api:1.0", func(ref name.Reference) error { return remote.Write(ref, api) })

	amd := acctest.Image(acctest.Config{User: "10001"}, acctest.DebianLayer("12", acctest.Package{Name: "libc6", Version: "2.36-9+deb12u4", Source: "glibc"}))
	arm := acctest.Image(acctest.Config{User: "10001", Architecture: "arm64", Variant: "v8"}, acctest.DebianLayer("12", acctest.Package{Name: "libc6", Version: "2.36-9+deb12u4", Source: "glibc"}))
	push(host+"/demo/web:2.3", func(ref name.Reference) error { return remote.WriteIndex(ref, acctest.Index(amd, arm)) })

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

func push(ref string, write func(name.Reference) error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		log.Fatal(err)
	}
	if err := write(r); err != nil {
		log.Fatalf("push %s: %v", ref, err)
	}
}
