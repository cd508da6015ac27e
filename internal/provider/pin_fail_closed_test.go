package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// sideEffect is a plan check that changes the world between the saved plan
// and its apply: plugin-testing applies the plan file it just checked.
type sideEffect func()

func (s sideEffect) CheckPlan(context.Context, plancheck.CheckPlanRequest, *plancheck.CheckPlanResponse) {
	s()
}

// A saved plan after the tag moved, applied after it moved again, approves
// what the plan showed; the next plan shows the second move. Before, apply
// failed with "Provider produced inconsistent final plan".
func TestAccPin_savedPlanAfterTagMovedAgain(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	first := f.pushApp(t, "1000", "1.2.5-r1")
	var second, third string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: f.config(""), ConfigStateChecks: stateIs("digest", first)},
			{
				PreConfig: func() { second = f.pushApp(t, "2000", "1.2.5-r1") },
				Config:    f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionUpdate),
					expectDigest(&second),
					sideEffect(func() { third = f.pushApp(t, "3000", "1.2.5-r1") }),
				}},
				ConfigStateChecks: stateIsPtr("digest", &second),
				// The refresh after apply sees the second move: not empty.
				ExpectNonEmptyPlan: true,
			},
			{
				Config: f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionUpdate),
					expectDigest(&third),
				}},
				ConfigStateChecks: stateIsPtr("digest", &third),
			},
		},
	})
}

// The same for a create: the tag moves between the saved plan and apply.
func TestAccPin_savedPlanCreateAfterTagMoved(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	first := f.pushApp(t, "1000", "1.2.5-r1")
	var second string
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{
				Config: f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionCreate),
					sideEffect(func() { second = f.pushApp(t, "2000", "1.2.5-r1") }),
				}},
				ConfigStateChecks:  stateIs("digest", first),
				ExpectNonEmptyPlan: true,
			},
			{
				Config: f.config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionUpdate),
					expectDigest(&second),
				}},
				ConfigStateChecks: stateIsPtr("digest", &second),
			},
		},
	})
}

// The scan block's warn relaxes the scan gate only: an unsigned image is
// still refused by the verify block.
func TestAccPin_scanWarnDoesNotRelaxVerify(t *testing.T) {
	t.Parallel()
	f := newPinFixture(t)
	ss := acctest.NewSigstore(t)
	key := acctest.NewKeyPair(t)
	f.pushApp(t, "1000", "1.2.5-r0") // vulnerable and unsigned
	gates := fmt.Sprintf(`
  scan {
    enforcement = "warn"
  }
  verify {
    trusted_root_json = %q
    authority {
      name = "ci"
      key {
        public_key_pem = %q
      }
    }
  }`, ss.TrustedRootJSON(t), key.PublicKeyPEM)
	resource.UnitTest(t, resource.TestCase{
		PreCheck:                 preCheck(t),
		ProtoV6ProviderFactories: protoV6Factories,
		Steps: []resource.TestStep{
			{Config: f.config(gates), ExpectError: wrapped(`(?s)Image signature not verified.*authority "ci" did not verify`)},
			{
				// Control: with verify also under warn, the plan passes with warnings.
				Config: f.config(gates[:len(gates)-4] + "\n    enforcement = \"warn\"\n  }"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("imageguard_pin.app", plancheck.ResourceActionCreate),
				}},
			},
		},
	})
}

func expectDigest(want *string) plancheck.PlanCheck {
	return plancheck.ExpectKnownValue("imageguard_pin.app", tfjsonpath.New("digest"), knownvalue.StringFunc(func(v string) error {
		if v != *want {
			return fmt.Errorf("planned digest %s, want %s", v, *want)
		}
		return nil
	}))
}

func stateIs(attr, want string) []statecheck.StateCheck {
	return []statecheck.StateCheck{check("imageguard_pin.app", attr, knownvalue.StringExact(want))}
}

func stateIsPtr(attr string, want *string) []statecheck.StateCheck {
	return []statecheck.StateCheck{check("imageguard_pin.app", attr, knownvalue.StringFunc(func(v string) error {
		if v != *want {
			return fmt.Errorf("%s = %s, want %s", attr, v, *want)
		}
		return nil
	}))}
}
