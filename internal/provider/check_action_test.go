package provider

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/action"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// requireActions skips, saying why, on a CLI without actions: Terraform
// before 1.14, and every OpenTofu release so far.
func requireActions(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Fatal("acceptance tests need TF_ACC=1 (run them with `make test`)")
	}
	cli := acctest.DetectCLI(t, acctest.TerraformPath(t))
	if cli.OpenTofu || !cli.AtLeast(1, 14) {
		t.Skipf("%s has no actions (Terraform 1.14 added them; OpenTofu has none): run with TF_ACC_TERRAFORM_PATH=$(scripts/tools.sh terraform 1.15.9)", cli)
	}
}

// checkConfig deploys a stand-in for an ECS service (terraform_data) whose
// creation and update trigger imageguard_check on the image it deploys.
func checkConfig(provider, ref, scanBlock string) string {
	return provider + fmt.Sprintf(`
action "imageguard_check" "api" {
  config {
    ref = %[1]q
    scan {
      severity_threshold = "HIGH"
%[2]s
    }
  }
}

resource "terraform_data" "service" {
  input = %[1]q
  lifecycle {
    action_trigger {
      events  = [before_create, before_update]
      actions = [action.imageguard_check.api]
    }
  }
}
`, ref, scanBlock)
}

func TestAccCheckAction_haltsTheApply(t *testing.T) {
	t.Parallel()
	requireActions(t)
	f := newScanFixture(t)
	good := f.reg.Push(t, "team/api:good", acctest.Image(acctest.Config{User: "1000"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r1"})))
	bad := f.reg.Push(t, "team/api:bad", acctest.Image(acctest.Config{User: "1001"}, acctest.AlpineLayer("3.23.2", acctest.Package{Name: "musl", Version: "1.2.5-r0"})))
	goodRef, badRef := f.reg.Ref("team/api@"+good.String()), f.reg.Ref("team/api@"+bad.String())
	deployed := func(ref string) statecheck.StateCheck {
		return statecheck.ExpectKnownValue("terraform_data.service", tfjsonpath.New("output"), knownvalue.StringExact(ref))
	}
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				// before_create: a passing image is deployed.
				Config:            checkConfig(f.provider(), goodRef, ""),
				ConfigStateChecks: []statecheck.StateCheck{deployed(goodRef)},
			},
			{
				// before_update: the plan succeeds (nothing is judged at
				// plan), the apply halts on the finding and nothing changes.
				Config:      checkConfig(f.provider(), badRef, ""),
				ExpectError: wrapped(`(?s)` + regexp.QuoteMeta(badRef) + `.*CVE-2025-26519.*musl`),
			},
			{
				// The state still holds the image that passed.
				Config:            checkConfig(f.provider(), goodRef, ""),
				ConfigStateChecks: []statecheck.StateCheck{deployed(goodRef)},
			},
			{
				// The pin's scan settings apply: an ignore with a reason lets it through.
				Config: checkConfig(f.provider(), badRef, `
      ignore {
        id     = "CVE-2025-26519"
        reason = "musl iconv is not reachable from this service"
      }`),
				ConfigStateChecks: []statecheck.StateCheck{deployed(badRef)},
			},
		},
	})
}

func TestAccCheckAction_refusesTags(t *testing.T) {
	t.Parallel()
	requireActions(t)
	f := newScanFixture(t)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{{
			Config:      checkConfig(f.provider(), f.reg.Ref("alpine/fixed:1"), ""),
			ExpectError: wrapped(`(?s)Image is not pinned to a digest.*names a tag, which can move`),
		}},
	})
}

// TestCheckActionSchema_isThePins: the action takes every setting of the
// pin's scan, verify and policy blocks, by the same names.
func TestCheckActionSchema_isThePins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var pin fwresource.SchemaResponse
	(&pinResource{}).Schema(ctx, fwresource.SchemaRequest{}, &pin)
	var act action.SchemaResponse
	newCheckAction().Schema(ctx, action.SchemaRequest{}, &act)
	if act.Diagnostics.HasError() {
		t.Fatalf("schema: %v", act.Diagnostics)
	}
	pinType, ok := pin.Schema.Type().TerraformType(ctx).(tftypes.Object)
	actType, ok2 := act.Schema.Type().TerraformType(ctx).(tftypes.Object)
	if !ok || !ok2 {
		t.Fatal("schemas are not objects")
	}
	for _, name := range []string{"platforms", "scan", "verify", "policy"} {
		want, got := pinType.AttributeTypes[name], actType.AttributeTypes[name]
		if want == nil || got == nil || !got.Equal(want) {
			t.Errorf("%s:\n got  %v\n want %v", name, got, want)
		}
	}
}
