package provider

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// protoV6Factories serves the provider in-process to the real terraform.
var protoV6Factories = map[string]func() (tfprotov6.ProviderServer, error){
	"imageguard": providerserver.NewProtocol6WithError(New("test")()),
}

func TestMain(m *testing.M) {
	// Never read the developer's docker credentials in tests.
	dir, err := os.MkdirTemp("", "imageguard-docker-config-")
	if err != nil {
		panic(err)
	}
	_ = os.Setenv("DOCKER_CONFIG", dir)
	_ = os.Setenv("CHECKPOINT_DISABLE", "1")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func preCheck(t *testing.T) func() {
	return func() { acctest.PreCheck(t) }
}

// factories serves a provider built with opts: a test's own clock or
// dialer, so that tests need no package globals and can run in parallel.
func factories(opts ...Option) map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){"imageguard": providerserver.NewProtocol6WithError(New("test", opts...)())}
}

// aliasHost routes a fake, non-loopback host name to a loopback server, so
// transport rules for remote registries can be exercised without leaving
// the machine.
func aliasHost(alias, target string) Option {
	var d net.Dialer
	return WithDialContext(func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, alias+":") || addr == alias {
			_, port, _ := net.SplitHostPort(target)
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, addr)
	})
}

// testClock is a clock a test moves between steps.
type testClock struct {
	mu    sync.Mutex
	shift time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.shift)
}

func (c *testClock) Set(shift time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shift = shift
}
