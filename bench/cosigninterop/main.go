// Command cosigninterop is the Go side of bench/cosign_interop.sh: it pushes
// test images to a registry on loopback, copies one image's cosign
// signature onto another (the tamper case), dumps what cosign stored
// (referrers tag index, referrer manifests, bundle JSON, legacy .sig/.att
// manifests and payloads), and times internal/verify (New + Verify) without
// terraform, counting the registry requests each phase costs from the
// registry's access log.
//
//	cosigninterop push -ref HOST/REPO:TAG -seed S
//	cosigninterop copy-sig -from HOST/REPO@DIGEST -to HOST/REPO@DIGEST -form bundle|legacy
//	cosigninterop dump -ref HOST/REPO@DIGEST
//	cosigninterop lib -image HOST/REPO:TAG -key cosign.pub [-attest slsaprovenance1] [-n 5] [-accesslog FILE]
//
// Only for the benchmark: no retries, no credentials (the registry is
// anonymous on 127.0.0.1).
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/verify"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cosigninterop push|copy-sig|dump|lib [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "push":
		err = cmdPush(os.Args[2:])
	case "copy-sig":
		err = cmdCopySig(os.Args[2:])
	case "dump":
		err = cmdDump(os.Args[2:])
	case "lib":
		err = cmdLib(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cosigninterop:", err)
		os.Exit(1)
	}
}

// push writes a small Alpine-like image (with a seed file, so that each
// seed is a different digest) and prints its digest.
func cmdPush(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	ref := fs.String("ref", "", "HOST/REPO:TAG")
	seed := fs.String("seed", "", "content of /seed, to vary the digest")
	_ = fs.Parse(args)
	r, err := name.ParseReference(*ref, name.WeakValidation)
	if err != nil {
		return err
	}
	img := acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2"),
		acctest.Layer(acctest.File{Path: "/seed", Content: *seed + "\n"}))
	if err := remote.Write(r, img); err != nil {
		return fmt.Errorf("push %s: %w", r, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}

// copy-sig attaches the signatures of -from to -to, byte for byte, as an
// attacker with push access to the repository would: for bundles, every
// Sigstore bundle referrer of -from becomes a referrer of -to (cosign's own
// writer, so the referrers tag of -to is maintained as cosign does); for the
// legacy form, the `sha256-<from>.sig` image is copied to `sha256-<to>.sig`.
func cmdCopySig(args []string) error {
	fs := flag.NewFlagSet("copy-sig", flag.ExitOnError)
	from := fs.String("from", "", "HOST/REPO@DIGEST whose signature is copied")
	to := fs.String("to", "", "HOST/REPO@DIGEST that receives it")
	form := fs.String("form", "bundle", "bundle or legacy")
	_ = fs.Parse(args)
	src, err := name.NewDigest(*from, name.WeakValidation)
	if err != nil {
		return err
	}
	dst, err := name.NewDigest(*to, name.WeakValidation)
	if err != nil {
		return err
	}
	switch *form {
	case "legacy":
		s := src.Context().Tag(tagFor(src.DigestStr()) + ".sig")
		d := dst.Context().Tag(tagFor(dst.DigestStr()) + ".sig")
		img, err := remote.Image(s)
		if err != nil {
			return fmt.Errorf("reading %s: %w", s, err)
		}
		if err := remote.Write(d, img); err != nil {
			return fmt.Errorf("writing %s: %w", d, err)
		}
		fmt.Printf("copied %s -> %s\n", s, d)
		return nil
	case "bundle":
		idx, err := remote.Referrers(src)
		if err != nil {
			return fmt.Errorf("listing referrers of %s: %w", src, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		n := 0
		for _, desc := range m.Manifests {
			_, mf, err := getManifest(src.Context().Digest(desc.Digest.String()))
			if err != nil {
				return err
			}
			for _, l := range mf.Layers {
				if !strings.HasPrefix(string(l.MediaType), "application/vnd.dev.sigstore.bundle") {
					continue
				}
				b, err := blob(src.Context(), l.Digest)
				if err != nil {
					return err
				}
				pt := mf.Annotations["dev.sigstore.bundle.predicateType"]
				if err := ociremote.WriteAttestationNewBundleFormat(dst, b, pt); err != nil {
					return fmt.Errorf("attaching the copied bundle to %s: %w", dst, err)
				}
				n++
				fmt.Printf("copied bundle %s (predicateType %s) of %s -> referrer of %s\n", l.Digest, pt, src.DigestStr(), dst.DigestStr())
			}
		}
		if n == 0 {
			return fmt.Errorf("%s has no bundle referrer to copy", src)
		}
		return nil
	}
	return fmt.Errorf("-form must be bundle or legacy")
}

func tagFor(digest string) string { return strings.Replace(digest, ":", "-", 1) }

func getManifest(ref name.Reference) ([]byte, *v1.Manifest, error) {
	desc, err := remote.Get(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return desc.Manifest, nil, fmt.Errorf("parsing %s: %w", ref, err)
	}
	return desc.Manifest, m, nil
}

func blob(repo name.Repository, d v1.Hash) ([]byte, error) {
	l, err := remote.Layer(repo.Digest(d.String()))
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// dump prints what is stored for a digest in each place cosign may write.
func cmdDump(args []string) error {
	fs := flag.NewFlagSet("dump", flag.ExitOnError)
	ref := fs.String("ref", "", "HOST/REPO@DIGEST")
	full := fs.Bool("full", false, "print the full bundle JSON (signatures, key hints) too")
	_ = fs.Parse(args)
	d, err := name.NewDigest(*ref, name.WeakValidation)
	if err != nil {
		return err
	}
	repo := d.Context()
	base := tagFor(d.DigestStr())
	fmt.Printf("== storage of %s\n", d)

	// The referrers API (distribution 2.8 has none: expect 404).
	api := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), d.DigestStr())
	if resp, err := http.Get(api); err == nil {
		resp.Body.Close()
		fmt.Printf("-- referrers API GET /v2/%s/referrers/<digest>: %s\n", repo.RepositoryStr(), resp.Status)
	}

	desc, err := remote.Get(repo.Tag(base))
	switch {
	case isNotFound(err):
		fmt.Printf("-- referrers tag %s: none\n", base)
	case err != nil:
		return err
	default:
		fmt.Printf("-- referrers tag %s (%s):\n%s\n", base, desc.MediaType, indent(desc.Manifest))
		im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return err
		}
		for _, rd := range im.Manifests {
			raw, m, err := getManifest(repo.Digest(rd.Digest.String()))
			if err != nil {
				return err
			}
			fmt.Printf("-- referrer manifest %s:\n%s\n", rd.Digest, indent(raw))
			for _, l := range m.Layers {
				b, err := blob(repo, l.Digest)
				if err != nil {
					return err
				}
				fmt.Printf("-- layer %s (%s, %d bytes):\n", l.Digest, l.MediaType, len(b))
				printBundle(b, *full)
			}
		}
	}

	for _, suffix := range []string{".sig", ".att"} {
		tag := base + suffix
		raw, m, err := getManifest(repo.Tag(tag))
		if err != nil {
			var terr *transport.Error
			if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
				fmt.Printf("-- legacy tag %s: none\n", tag)
				continue
			}
			return err
		}
		fmt.Printf("-- legacy tag %s manifest:\n%s\n", tag, indent(raw))
		for _, l := range m.Layers {
			b, err := blob(repo, l.Digest)
			if err != nil {
				return err
			}
			fmt.Printf("-- layer %s (%s) payload:\n", l.Digest, l.MediaType)
			if suffix == ".att" {
				printEnvelope(b)
			} else {
				fmt.Println(indent(b))
			}
		}
	}
	return nil
}

var longB64 = regexp.MustCompile(`"([A-Za-z0-9+/=]{60})[A-Za-z0-9+/=]+"`)

// printBundle prints a Sigstore bundle with its DSSE statement decoded;
// without full, long base64 values are shortened.
func printBundle(b []byte, full bool) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		fmt.Printf("   (not JSON: %v)\n", err)
		return
	}
	var stmt []byte
	if env, ok := m["dsseEnvelope"].(map[string]any); ok {
		if p, ok := env["payload"].(string); ok {
			stmt, _ = base64.StdEncoding.DecodeString(p)
		}
	}
	out, _ := json.MarshalIndent(m, "   ", "  ")
	s := string(out)
	if !full {
		s = longB64.ReplaceAllString(s, `"$1…"`)
	}
	fmt.Println("   " + s)
	if stmt != nil {
		fmt.Printf("   decoded DSSE payload (the signed statement):\n   %s\n", indentS(stmt, "   "))
	}
}

func printEnvelope(b []byte) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		fmt.Println(indent(b))
		return
	}
	stmt, _ := base64.StdEncoding.DecodeString(env.Payload)
	fmt.Printf("   DSSE payloadType %s, decoded payload:\n   %s\n", env.PayloadType, indentS(stmt, "   "))
}

func indent(b []byte) string { return indentS(b, "") }

func indentS(b []byte, prefix string) string {
	var out bytes.Buffer
	if json.Indent(&out, b, prefix, "  ") != nil {
		return string(b)
	}
	return out.String()
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// accessLog counts the registry requests logged since the last mark.
type accessLog struct {
	path string
	off  int64
}

var logLine = regexp.MustCompile(`"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/[^ ]*) HTTP`)

func (a *accessLog) mark() {
	if a.path == "" {
		return
	}
	time.Sleep(150 * time.Millisecond) // let the registry write its lines
	if st, err := os.Stat(a.path); err == nil {
		a.off = st.Size()
	}
}

// since returns the requests since the mark, as "METHOD path" lines.
func (a *accessLog) since() []string {
	if a.path == "" {
		return nil
	}
	time.Sleep(150 * time.Millisecond)
	f, err := os.Open(a.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(a.off, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if m := logLine.FindStringSubmatch(line); m != nil {
			out = append(out, m[1]+" "+m[2])
		}
	}
	return out
}

var hexRun = regexp.MustCompile(`[0-9a-f]{64}`)

// summarize groups requests by method and path shape.
func summarize(reqs []string) string {
	counts := map[string]int{}
	for _, r := range reqs {
		counts[hexRun.ReplaceAllStringFunc(r, func(h string) string { return h[:8] + "…" })]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "      %2d× %s\n", counts[k], k)
	}
	return b.String()
}

// lib times internal/verify directly: tag resolution (one HEAD), then N
// verifications each with a new Verifier (cold: new registry session, as
// one terraform plan has), then N with one Verifier (warm).
func cmdLib(args []string) error {
	fs := flag.NewFlagSet("lib", flag.ExitOnError)
	image := fs.String("image", "", "HOST/REPO:TAG")
	keyPath := fs.String("key", "", "cosign.pub")
	attest := fs.String("attest", "", "also require an attestation of this type (cosign short name)")
	n := fs.Int("n", 5, "verifications per phase")
	logPath := fs.String("accesslog", "", "the registry's access log, to count requests")
	_ = fs.Parse(args)
	pem, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(*image, name.WeakValidation)
	if err != nil {
		return err
	}
	al := &accessLog{path: *logPath}
	ctx := context.Background()

	al.mark()
	t0 := time.Now()
	desc, err := remote.Head(ref)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", ref, err)
	}
	fmt.Printf("library: resolve %s -> %s: %s, %d registry requests\n", ref, desc.Digest, ms(time.Since(t0)), len(al.since()))

	req := verify.Request{
		Repository:  ref.Context(),
		Digest:      desc.Digest,
		Authorities: []verify.Authority{{Name: "cosign-key", Key: &verify.KeyAuthority{PublicKeyPEM: string(pem)}}},
	}
	if *attest != "" {
		uri, err := verify.PredicateTypeURI(*attest)
		if err != nil {
			return err
		}
		req.Attestations = []verify.AttestationRequest{{PredicateType: uri}}
	}
	check := func(res *verify.Result) error {
		a := res.Authorities[0]
		if !a.Verified(req.Attestations) {
			return fmt.Errorf("NOT VERIFIED by the library: %q (searched %s)", a.Reasons, strings.Join(res.Searched, ", "))
		}
		return nil
	}
	var first *verify.Result
	run := func(phase string, fresh bool) error {
		var times []time.Duration
		var reqs []string
		var v *verify.Verifier
		for i := 0; i < *n; i++ {
			al.mark()
			t := time.Now()
			if fresh || v == nil {
				if v, err = verify.New(verify.Options{TLog: "optional"}); err != nil {
					return err
				}
			}
			res, err := v.Verify(ctx, req)
			d := time.Since(t)
			if err != nil {
				return err
			}
			if err := check(res); err != nil {
				return err
			}
			if first == nil {
				first = res
			}
			r := al.since()
			if !fresh && i == 0 {
				// the warm phase's first call opens the session: report it apart
				fmt.Printf("library %s: first call (opens the session) %s, %d requests\n", phase, ms(d), len(r))
				continue
			}
			times = append(times, d)
			reqs = append(reqs, r...)
		}
		fmt.Printf("library %s: %s per verification (%s), %.1f registry requests each\n",
			phase, ms(mean(times)), list(times), float64(len(reqs))/float64(len(times)))
		fmt.Print(summarize(reqs))
		return nil
	}
	if err := run("cold (New + Verify)", true); err != nil {
		return err
	}
	if err := run("warm (Verify, reused Verifier)", false); err != nil {
		return err
	}
	for _, s := range first.Authorities[0].Signatures {
		fmt.Printf("library: signature format=%s location=%q key_id=%s tlog_index=%d\n", s.Format, s.Location, s.KeyID[:16]+"…", s.TLogIndex)
	}
	for _, a := range first.Authorities[0].Attestations {
		fmt.Printf("library: attestation %s format=%s location=%q\n", a.PredicateType, a.Format, a.Location)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(len(ds))
}

func list(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1f", float64(d.Microseconds())/1000)
	}
	return strings.Join(parts, ", ") + " ms"
}
