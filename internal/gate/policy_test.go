package gate_test

import (
	"context"
	"testing"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
	"github.com/imageguard/terraform-provider-imageguard/internal/registry"
)

func TestPolicy(t *testing.T) {
	e := newScanEnv(t)
	now := time.Now()
	root := e.reg.Push(t, "team/root:1", acctest.Image(acctest.Config{User: "root"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	images := map[string]*registry.Resolved{
		"api":    e.resolve(t, "team/root:1"),
		"worker": e.resolve(t, "team/root:1"), // the same digest under another name
		"vuln":   e.resolve(t, "alpine/vulnerable:1"),
	}
	nonRoot := policy.Rules{RequireNonRoot: true}

	t.Run("each unique digest judged once; violations reach every name", func(t *testing.T) {
		out := gate.Policy(context.Background(), e.client, e.scanner, images, gate.PolicySettings{Rules: nonRoot, Concurrency: 2}, now)
		if out.Judged != 2 {
			t.Fatalf("judged %d digests, want 2 (api and worker share one)", out.Judged)
		}
		api, worker := out.For(images["api"]), out.For(images["worker"])
		if api != worker || api.Err != nil || len(api.Violations) != 1 || !api.Blocking {
			t.Fatalf("api %+v, worker %+v", api, worker)
		}
		if api.Resolved.Digest != root {
			t.Errorf("judged %s, want %s", api.Resolved.Digest, root)
		}
	})
	t.Run("an exception for one image name applies to the digest judged under the first name", func(t *testing.T) {
		rules := nonRoot
		rules.Exceptions = []policy.Exception{{Rule: policy.RuleRequireNonRoot, Image: "api", Reason: "legacy", Expires: now.Add(24 * time.Hour)}}
		out := gate.Policy(context.Background(), e.client, e.scanner, images, gate.PolicySettings{Rules: rules, Concurrency: 1}, now)
		if v := out.For(images["api"]); len(v.Violations) != 0 || len(v.Ignored) != 1 {
			t.Fatalf("api: %d violations, %d excepted; want the exception to apply", len(v.Violations), len(v.Ignored))
		}
	})
	t.Run("the scan gate's warn relaxes only the scan gate", func(t *testing.T) {
		s := gate.PolicySettings{Rules: nonRoot, RulesEnforcement: "error", Scan: &gate.ScanSettings{Rules: policy.ScanRules{Threshold: policy.SeverityHigh}}, ScanEnforcement: "warn", Concurrency: 2}
		out := gate.Policy(context.Background(), e.client, e.scanner, images, s, now)
		if v := out.For(images["vuln"]); v.Err != nil || len(v.Violations) == 0 || v.Blocking {
			t.Errorf("vulnerable image under scan warn: err=%v violations=%d blocking=%v; want violations that do not block", v.Err, len(v.Violations), v.Blocking)
		}
		if v := out.For(images["api"]); !v.Blocking {
			t.Errorf("root image: the rules gate (error) must still block")
		}
	})
	t.Run("a gate that cannot be evaluated is an error, not a pass", func(t *testing.T) {
		s := gate.PolicySettings{Platforms: []string{"linux/s390x"}, Rules: nonRoot, Concurrency: 2}
		out := gate.Policy(context.Background(), e.client, e.scanner, images, s, now)
		if v := out.For(images["vuln"]); v.Err == nil {
			t.Errorf("missing platform judged as %+v", v)
		}
	})
}
