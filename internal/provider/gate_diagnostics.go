package provider

import (
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
)

// blockPath is the path of attribute name inside the block a gate runs in:
// block is empty at the root (imageguard_verify's own attributes), or e.g.
// ["verify"] inside imageguard_policy and imageguard_pin.
func blockPath(block []string, name string) path.Path {
	if len(block) == 0 {
		return path.Root(name)
	}
	p := path.Root(block[0])
	for _, b := range block[1:] {
		p = p.AtName(b)
	}
	return p.AtName(name)
}

// addGateError attaches a gate's error to the attribute it concerns, under
// the block the gate runs in, or to the image attribute at.
func addGateError(diags *diag.Diagnostics, err error, at path.Path, block []string) {
	var ge *gate.Error
	if !errors.As(err, &ge) {
		diags.AddAttributeError(at, "Gate failed", err.Error())
		return
	}
	p := at
	if ge.Attr != "" {
		p = blockPath(block, ge.Attr)
	}
	diags.AddAttributeError(p, ge.Summary, ge.Detail)
}
