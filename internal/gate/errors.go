package gate

// Error is a gate that could not be evaluated. Attr names the attribute it
// concerns relative to the block the gate runs in ("" means the image
// itself; "vex", "trusted_root_json", "platforms"), so the Terraform surface
// can attach it under `scan.vex` or `verify.trusted_root_json` when the gate
// runs nested.
type Error struct {
	Attr    string
	Summary string
	Detail  string
	Err     error
}

func (e *Error) Error() string { return e.Summary + ": " + e.Detail }

func (e *Error) Unwrap() error { return e.Err }
