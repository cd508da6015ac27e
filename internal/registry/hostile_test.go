package registry_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

// hostileFixture is an image and a second one to swap in, on a hostile
// registry; the test client retries twice, 10ms apart.
func hostileFixture(t *testing.T) (*acctest.HostileRegistry, string, string) {
	t.Helper()
	reg := acctest.NewHostileRegistry(t)
	a := reg.Push(t, "team/app:1", acctest.Image(acctest.Config{User: "a"}, acctest.AlpineLayer("3.23.2")))
	b := reg.Push(t, "team/app:2", acctest.Image(acctest.Config{User: "b"}, acctest.AlpineLayer("3.23.2")))
	return reg, a.String(), b.String()
}

func wantMessage(t *testing.T, err error, kind registry.ErrorKind, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got none")
	}
	if registry.KindOf(err) != kind {
		t.Errorf("kind = %v (%s), want %v", registry.KindOf(err), registry.KindOf(err).Summary(), kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("message lacks %q:\n%s", p, err)
		}
	}
}

func TestHostile_5xxRetriedThenFails(t *testing.T) {
	reg, _, _ := hostileFixture(t)
	reg.Inject(acctest.Fault{Path: acctest.ManifestPath("team/app", "1"), Kind: acctest.FaultStatus, Status: http.StatusBadGateway})
	_, err := resolveOn(t, newClient(t), reg.Ref("team/app:1"))
	wantMessage(t, err, registry.KindServer, "Registry "+reg.Host+" failed reading "+reg.Ref("team/app:1"), "502 Bad Gateway 2 times", "UNAVAILABLE: injected failure", "try again later")
	// The client's two tries, not multiplied by go-containerregistry's own.
	if n := len(reg.Faulted()); n != 2 {
		t.Fatalf("requests = %d, want 2", n)
	}
}

func TestHostile_5xxOnceRecovers(t *testing.T) {
	reg, a, _ := hostileFixture(t)
	reg.Inject(acctest.Fault{Path: acctest.ManifestPath("team/app", "1"), Kind: acctest.FaultStatus, Times: 1})
	r, err := resolveOn(t, newClient(t), reg.Ref("team/app:1"))
	if err != nil || r.Digest.String() != a {
		t.Fatalf("after one 503: %v, %v", r, err)
	}
}

func TestHostile_RetryAfterHonoured(t *testing.T) {
	reg, a, _ := hostileFixture(t)
	reg.Inject(acctest.Fault{Path: acctest.ManifestPath("team/app", "1"), Kind: acctest.FaultRateLimit, RetryAfter: "1", Times: 1})
	start := time.Now()
	r, err := resolveOn(t, newClient(t), reg.Ref("team/app:1"))
	if err != nil || r.Digest.String() != a {
		t.Fatalf("after one 429: %v, %v", r, err)
	}
	// The backoff is 10ms; only Retry-After explains a second.
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %s, before the Retry-After of 1s", waited)
	}
}

func TestHostile_RetryAfterBeyondWhatIsWaited(t *testing.T) {
	reg, _, _ := hostileFixture(t)
	reg.Inject(acctest.Fault{Path: acctest.ManifestPath("team/app", "1"), Kind: acctest.FaultRateLimit, RetryAfter: "3600"})
	start := time.Now()
	_, err := resolveOn(t, newClient(t), reg.Ref("team/app:1"))
	wantMessage(t, err, registry.KindServer, "is rate-limiting reads of "+reg.Ref("team/app:1"), "429 Too Many Requests", "asked to retry after 1h0m0s, longer than imageguard waits (1m0s)", "`registry` block")
	if n := len(reg.Faulted()); n != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d requests in %s: want one, at once", n, time.Since(start))
	}
}

func TestHostile_RetryAfterPastTheDeadline(t *testing.T) {
	reg, _, _ := hostileFixture(t)
	reg.Inject(acctest.Fault{Path: acctest.ManifestPath("team/app", "1"), Kind: acctest.FaultRateLimit, RetryAfter: "30"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := newClient(t)
	ref, _ := c.ParseReference(reg.Ref("team/app:1"))
	start := time.Now()
	_, err := c.Resolve(ctx, ref)
	wantMessage(t, err, registry.KindServer, "rate-limiting", "waiting 30s for the next try would pass the provider's `timeout`")
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("gave up after %s; it should not wait for a retry it cannot make", waited)
	}
}

func TestHostile_HangEndsAtTheDeadline(t *testing.T) {
	reg, _, _ := hostileFixture(t)
	reg.Inject(acctest.Fault{Path: acctest.ManifestPath("team/app", ""), Kind: acctest.FaultHang})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	c := newClient(t)
	ref, _ := c.ParseReference(reg.Ref("team/app:1"))
	start := time.Now()
	_, err := c.Resolve(ctx, ref)
	wantMessage(t, err, registry.KindUnreachable, "Reading "+reg.Ref("team/app:1")+" from registry "+reg.Host+" timed out", "Raise `timeout`")
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("a hanging registry held the read for %s", waited)
	}
}

func TestHostile_SwappedManifest(t *testing.T) {
	reg, a, b := hostileFixture(t)
	reg.Inject(acctest.Fault{Path: acctest.ManifestPath("team/app", a), Kind: acctest.FaultSwap, SwapWith: b})
	_, err := resolveOn(t, newClient(t), reg.Ref("team/app@"+a))
	wantMessage(t, err, registry.KindIntegrity, "sent content for "+reg.Ref("team/app@"+a)+" that does not match its digest", a, "cannot pass")
}

func TestHostile_TruncatedConfig(t *testing.T) {
	for name, kind := range map[string]acctest.FaultKind{"short blob that looks complete": acctest.FaultTruncate, "connection cut mid-blob": acctest.FaultCutOff} {
		t.Run(name, func(t *testing.T) {
			reg := acctest.NewHostileRegistry(t)
			img := acctest.Image(acctest.Config{User: "a"}, acctest.AlpineLayer("3.23.2"))
			reg.Push(t, "team/app:1", img)
			cfg, _ := img.ConfigName()
			reg.Inject(acctest.Fault{Path: acctest.BlobPath("team/app", cfg), Method: http.MethodGet, Kind: kind})
			c := newClient(t)
			r, err := resolveOn(t, c, reg.Ref("team/app:1"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Image(context.Background(), r, "")
			wantMessage(t, err, registry.KindIntegrity, reg.Ref("team/app:1"), "cannot pass")
		})
	}
}

func TestHostile_HangOnConfigBlobEndsAtTheDeadline(t *testing.T) {
	reg := acctest.NewHostileRegistry(t)
	img := acctest.Image(acctest.Config{User: "a"}, acctest.AlpineLayer("3.23.2"))
	reg.Push(t, "team/app:1", img)
	cfg, _ := img.ConfigName()
	reg.Inject(acctest.Fault{Path: acctest.BlobPath("team/app", cfg), Kind: acctest.FaultHang})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	c := newClient(t)
	ref, _ := c.ParseReference(reg.Ref("team/app:1"))
	r, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Image(ctx, r, "")
	wantMessage(t, err, registry.KindUnreachable, "timed out", "Raise `timeout`")
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("a hanging config blob held the read for %s", waited)
	}
}

// Registries send blob reads to their storage with a redirect: the read
// follows it, and the registry's credentials stay with the registry.
func TestHostile_BlobRedirectedToStorage(t *testing.T) {
	for name, tc := range map[string]struct {
		opt   acctest.RegistryOption
		creds registry.RegistryOptions
	}{
		"basic":  {acctest.WithBasicAuth("ci", "s3cret-password"), registry.RegistryOptions{Username: "ci", Password: "s3cret-password"}},
		"bearer": {acctest.WithBearerToken("s3cret-token"), registry.RegistryOptions{Token: "s3cret-token"}},
	} {
		t.Run(name, func(t *testing.T) {
			reg := acctest.NewHostileRegistry(t, tc.opt)
			img := acctest.Image(acctest.Config{User: "app"}, acctest.AlpineLayer("3.23.2"))
			reg.Push(t, "team/app:1", img)
			storage := acctest.NewBlobStorage(t, reg.Honest)
			reg.Inject(acctest.Fault{Path: "/blobs/", Kind: acctest.FaultRedirect, RedirectTo: storage.URL})
			creds := tc.creds
			creds.Address = reg.Host
			c := newClient(t, creds)
			r, err := resolveOn(t, c, reg.Ref("team/app:1"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Image(context.Background(), r, "")
			if err != nil {
				t.Fatalf("a redirect to blob storage: %v", err)
			}
			if got.Config.Config.User != "app" {
				t.Fatalf("config read through the redirect: user %q", got.Config.Config.User)
			}
			if storage.Requests() == 0 {
				t.Fatal("the config blob was not read from the storage the registry redirected to")
			}
			if a := storage.Authorizations(); len(a) > 0 {
				t.Fatalf("the registry's credentials followed the redirect to %s: %q", storage.URL, a)
			}
		})
	}
}

// A redirect never downgrades to plain HTTP on a host that is not loopback
// (nor listed as insecure): the read fails, naming the host.
func TestHostile_RedirectToPlainHTTPRefused(t *testing.T) {
	reg, err := readConfigRedirectedTo(t, "http://blobs.example.invalid")
	wantMessage(t, err, registry.KindPlainHTTP, "registry "+reg.Host+" redirected the read of "+reg.Ref("team/app:1"), "plain HTTP on blobs.example.invalid",
		`registry { address = "blobs.example.invalid", insecure = true }`)
}

func TestHostile_RedirectLoop(t *testing.T) {
	reg, _, _ := hostileFixture(t)
	reg.Inject(acctest.Fault{Path: acctest.ManifestPath("team/app", "1"), Kind: acctest.FaultRedirect, RedirectTo: "http://" + reg.Host})
	_, err := resolveOn(t, newClient(t), reg.Ref("team/app:1"))
	wantMessage(t, err, registry.KindServer, "Registry "+reg.Host+" redirected the read of "+reg.Ref("team/app:1")+" in a loop", "check the registry")
}

// go-containerregistry refuses a redirect to another host at a private,
// loopback or link-local address; the message says why and what to change.
func TestHostile_RedirectIntoThePrivateNetwork(t *testing.T) {
	reg, err := readConfigRedirectedTo(t, "http://127.0.0.2:1")
	wantMessage(t, err, registry.KindServer, "Registry "+reg.Host+" redirected the read of "+reg.Ref("team/app:1")+" to another host at a private, loopback or link-local address", "127.0.0.2", "storage.redirect.disable")
}

// readConfigRedirectedTo reads an image's config from a hostile registry
// that redirects every blob read to target, and returns the error.
func readConfigRedirectedTo(t *testing.T, target string) (*acctest.HostileRegistry, error) {
	t.Helper()
	reg := acctest.NewHostileRegistry(t)
	reg.Push(t, "team/app:1", acctest.Image(acctest.Config{User: "app"}, acctest.AlpineLayer("3.23.2")))
	reg.Inject(acctest.Fault{Path: "/blobs/", Kind: acctest.FaultRedirect, RedirectTo: target})
	c := newClient(t)
	r, err := resolveOn(t, c, reg.Ref("team/app:1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Image(context.Background(), r, "")
	return reg, err
}
