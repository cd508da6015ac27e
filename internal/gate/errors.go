package gate

// Error is a gate that could not be evaluated. Attr names the attribute it
// concerns relative to the block the gate runs in ("" means the image
// itself; "vex", "trusted_root_json", "platforms"), so the Terraform surface
// can attach it under `scan.vex` or `verify.trusted_root_json` when the gate
// runs nested.
type Error struct {
	// Gate is the gate that failed (set by Judge); "" outside one.
	Gate    Kind
	Attr    Field
	Summary string
	Detail  string
	Err     error
}

func (e *Error) Error() string { return e.Summary + ": " + e.Detail }

func (e *Error) Unwrap() error { return e.Err }

// Field names the attribute an error or warning concerns, relative to the
// block its gate runs in; the Terraform surface turns it into a path.
type Field string

// The fields gates name.
const (
	FieldImage     Field = "" // the image itself: the attribute naming it
	FieldPlatforms Field = "platforms"
	FieldVEX       Field = "vex"
	FieldIgnore    Field = "ignore"
	FieldExploited Field = "exploited"
	FieldKey       Field = "key"
	FieldKMS       Field = "kms"
	FieldKeyless   Field = "keyless"
)
