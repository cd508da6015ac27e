package provider

import (
	"fmt"
	"regexp"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// require_non_root reads USER as containerd and runc do, names through the
// image's final /etc/passwd: "+0" and a name mapped to uid 0 fail (both
// passed before), a name nothing resolves fails, and numeric and resolvable
// non-root users pass.
func TestAccNonRoot(t *testing.T) {
	t.Parallel()
	reg := acctest.NewRegistry(t)
	type file = acctest.File
	passwd := func(entries string) file {
		return file{Path: "etc/passwd", Content: "root:x:0:0:root:/root:/bin/sh\n" + entries}
	}
	group := file{Path: "etc/group", Content: "root:x:0:\nstaff:x:50:app\n"}
	push := func(repo, user string, layers ...v1.Layer) string {
		// An Alpine-like root without /etc/passwd, then the case's layers.
		all := append([]v1.Layer{acctest.AlpineLayer("3.23.2")}, layers...)
		reg.Push(t, repo, acctest.Image(acctest.Config{User: user}, all...))
		return reg.Ref(repo)
	}
	plusZero := push("nonroot/plus-zero:1", "+0", acctest.Layer(passwd("app:x:1000:1000::/app:/bin/sh\n")))
	toor := push("nonroot/toor:1", "toor", acctest.Layer(passwd("toor:x:0:0:toor:/root:/bin/sh\n"), group))
	ghost := push("nonroot/ghost:1", "app")
	// app is uid 1000 in the first layer, but a later layer deletes
	// /etc/passwd: the final filesystem is what counts.
	deleted := push("nonroot/deleted:1", "app", acctest.Layer(passwd("app:x:1000:1000\n")), acctest.Layer(file{Path: "etc/.wh.passwd"}))
	// ... and a later layer that replaces it with app as uid 0 makes it root.
	replaced := push("nonroot/replaced:1", "app", acctest.Layer(passwd("app:x:1000:1000\n")), acctest.Layer(passwd("app:x:0:0\n")))
	numeric := push("nonroot/numeric:1", "65532")
	named := push("nonroot/named:1", "app:staff", acctest.Layer(passwd("app:x:1000:1000::/app:/bin/sh\n"), group))

	cfg := func(ref, extra string) string {
		return fmt.Sprintf(`
data "imageguard_image" "x" {
  ref = %q
  rules {
    require_non_root = true
%s
  }
}`, ref, extra)
	}
	violation := func(re string) statecheck.StateCheck {
		return check("data.imageguard_image.x", "violations", knownvalue.ListExact([]knownvalue.Check{knownvalue.StringRegexp(regexp.MustCompile(re))}))
	}
	passes := []statecheck.StateCheck{
		check("data.imageguard_image.x", "passed", knownvalue.Bool(true)),
		check("data.imageguard_image.x", "violations", knownvalue.ListSizeExact(0)),
	}
	fails := func(re string) []statecheck.StateCheck {
		return []statecheck.StateCheck{check("data.imageguard_image.x", "passed", knownvalue.Bool(false)), violation(re)}
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			// Errors name the USER, the uid and where it came from.
			{Config: cfg(plusZero, ""), ExpectError: wrapped(`(?s)Image violates 1 rule\(s\).*require_non_root: runs as root \(USER "\+0" is uid 0: the number "\+0" in USER`)},
			{Config: cfg(toor, ""), ExpectError: wrapped(`(?s)require_non_root: runs as root \(USER "toor" is uid 0: /etc/passwd \(layer 1, counting from 0\) line 2 "toor:x:0:0:toor:/root:/bin/sh"\)`)},
			{Config: cfg(ghost, ""), ExpectError: wrapped(`(?s)require_non_root: cannot vouch for USER "app" as non-root: the image has no /etc/passwd \(after whiteouts\), so the user "app" cannot be resolved`)},
			{Config: cfg(deleted, ""), ExpectError: wrapped(`(?s)require_non_root: cannot vouch for USER "app" as non-root: the image has no /etc/passwd \(after whiteouts\)`)},
			{Config: cfg(replaced, ""), ExpectError: wrapped(`(?s)require_non_root: runs as root \(USER "app" is uid 0: /etc/passwd \(layer 2, counting from 0\) line 2 "app:x:0:0"\)`)},
			// The same verdicts as outputs, in audit mode.
			{Config: cfg(plusZero, `    enforcement = "warn"`), ConfigStateChecks: fails(`^require_non_root: runs as root \(USER "\+0" is uid 0`)},
			{Config: cfg(ghost, `    enforcement = "warn"`), ConfigStateChecks: fails(`^require_non_root: cannot vouch for USER "app" as non-root`)},
			// Controls: a numeric uid needs no files; a name and a group
			// that resolve to non-root ids pass.
			{Config: cfg(numeric, ""), ConfigStateChecks: passes},
			{Config: cfg(named, ""), ConfigStateChecks: passes},
		},
	})
}
