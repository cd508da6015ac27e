package validate

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// exactlyOneBlock holds when exactly one of a block's nested list blocks
// has an entry, and that one entry only, e.g. an `authority` with one `key`,
// `keyless` or `notation` block (a second `key` would be a second signer
// under one name). (listvalidator.ExactlyOneOf cannot say it: an absent list
// block is an empty list, not null.)
type exactlyOneBlock struct{ names []string }

// ExactlyOneBlock validates an object (a nested block) that must hold
// exactly one entry among the named list blocks.
func ExactlyOneBlock(names ...string) validator.Object { return exactlyOneBlock{names} }

func (e exactlyOneBlock) list() string {
	quoted := make([]string, len(e.names))
	for i, n := range e.names {
		quoted[i] = "`" + n + "`"
	}
	if len(quoted) < 2 {
		return strings.Join(quoted, "")
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}

func (e exactlyOneBlock) Description(context.Context) string {
	return "exactly one of the " + strings.ReplaceAll(e.list(), "`", "") + " blocks"
}
func (e exactlyOneBlock) MarkdownDescription(context.Context) string {
	return "exactly one of the " + e.list() + " blocks"
}

func (e exactlyOneBlock) ValidateObject(_ context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	attrs := req.ConfigValue.Attributes()
	var set []string
	entries := 0
	for _, n := range e.names {
		l, ok := attrs[n].(types.List)
		if !ok || l.IsNull() {
			continue
		}
		if l.IsUnknown() {
			return // decided when known (a dynamic block over unknown values)
		}
		if k := len(l.Elements()); k > 0 {
			entries += k
			if k > 1 {
				n = fmt.Sprintf("%d %s blocks", k, n)
			}
			set = append(set, n)
		}
	}
	if entries == 1 {
		return
	}
	found := "it has none"
	if entries > 1 {
		found = "it has " + strings.Join(set, " and ")
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Give exactly one of "+strings.ReplaceAll(e.list(), "`", ""),
		fmt.Sprintf("This block needs exactly one of the %s blocks; %s.", e.list(), found))
}

// NotationIdentity accepts a Notary Project trusted identity:
// `x509.subject: <distinguished name>`, or `*` (every signer the trust
// store vouches for), which must then be the only entry.
func NotationIdentity() validator.String {
	return stringCheck{"Invalid trusted identity", "x509.subject: <distinguished name>, or *", CheckNotationIdentity}
}

// CheckNotationIdentity is NotationIdentity's check, for conversions.
func CheckNotationIdentity(s string) error {
	if s == "*" {
		return nil
	}
	v, ok := strings.CutPrefix(s, "x509.subject:")
	if !ok || strings.TrimSpace(v) == "" {
		return fmt.Errorf("%q is not a trusted identity: write \"x509.subject: C=US, ST=WA, O=acme, CN=release\" (the signing certificate's subject, or part of it), or \"*\" for every signer under the trust store", s)
	}
	return nil
}

// exactlyOneAttribute holds when exactly one of a block's string
// attributes is set (not null and not empty), e.g. a `key` with
// `public_key_pem` or `kms`.
type exactlyOneAttribute struct{ names []string }

// ExactlyOneAttribute validates an object (a nested block) that must set
// exactly one of the named string attributes.
func ExactlyOneAttribute(names ...string) validator.Object { return exactlyOneAttribute{names} }

func (e exactlyOneAttribute) list() string {
	return exactlyOneBlock(e).list()
}

func (e exactlyOneAttribute) Description(context.Context) string {
	return "exactly one of " + strings.ReplaceAll(e.list(), "`", "")
}
func (e exactlyOneAttribute) MarkdownDescription(context.Context) string {
	return "exactly one of " + e.list()
}

func (e exactlyOneAttribute) ValidateObject(_ context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	attrs := req.ConfigValue.Attributes()
	var set []string
	for _, n := range e.names {
		s, ok := attrs[n].(types.String)
		if !ok || s.IsNull() {
			continue
		}
		if s.IsUnknown() {
			return // decided when known
		}
		if s.ValueString() != "" {
			set = append(set, "`"+n+"`")
		}
	}
	if len(set) == 1 {
		return
	}
	found := "it has none"
	if len(e.names) == 2 {
		found = "it has neither"
	}
	if len(set) > 1 {
		found = "it has " + strings.Join(set, " and ")
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Give exactly one of "+strings.ReplaceAll(e.list(), "`", ""),
		fmt.Sprintf("This block needs exactly one of %s; %s.", e.list(), found))
}
