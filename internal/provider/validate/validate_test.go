package validate

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func TestValidators(t *testing.T) {
	tests := []struct {
		name    string
		v       validator.String
		value   types.String
		wantErr string
	}{
		{"platform ok", Platform(), types.StringValue("linux/arm64/v8"), ""},
		{"platform without arch", Platform(), types.StringValue("linux"), "Invalid platform"},
		{"duration ok", Duration(), types.StringValue("72h"), ""},
		{"negative duration", Duration(), types.StringValue("-1h"), "Invalid duration"},
		{"date ok", Date(), types.StringValue("2027-01-31"), ""},
		{"date in another layout", Date(), types.StringValue("31/01/2027"), "Invalid date"},
		{"severity ok", Severity(), types.StringValue("HIGH"), ""},
		{"unknown severity", Severity(), types.StringValue("SEVERE"), "Invalid severity"},
		{"condition ok", Condition(), types.StringValue(`predicate.x == "y"`), ""},
		{"condition not bool", Condition(), types.StringValue(`"y"`), "Invalid CEL condition"},
		{"enforcement ok", Enforcement(), types.StringValue("warn"), ""},
		{"enforcement typo", Enforcement(), types.StringValue("warning"), "Invalid Attribute Value Match"},
		{"service https ok", ServiceURL(), types.StringValue("https://rekor.example.com"), ""},
		{"service plain http on 127.0.0.1 ok", ServiceURL(), types.StringValue("http://127.0.0.1:8080"), ""},
		{"service plain http on localhost ok", ServiceURL(), types.StringValue("http://localhost:3000"), ""},
		{"service plain http on ::1 ok", ServiceURL(), types.StringValue("http://[::1]:3000"), ""},
		{"service plain http across the network", ServiceURL(), types.StringValue("http://rekor.example.com"), "Plain HTTP"},
		{"service plain http to a private address", ServiceURL(), types.StringValue("http://10.0.0.5:3000"), "Plain HTTP"},
		{"service plain http to a name that starts like loopback", ServiceURL(), types.StringValue("http://127.0.0.1.example.com"), "Plain HTTP"},
		{"service with credentials", ServiceURL(), types.StringValue("https://u:p@rekor.example.com"), "Invalid URL"},
		{"image reference with tag ok", ImageReference(), types.StringValue("registry.example.com/team/api:1.4"), ""},
		{"image reference with digest ok", ImageReference(), types.StringValue("registry.example.com/team/api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"), ""},
		{"image reference malformed", ImageReference(), types.StringValue("Not A Reference"), "Malformed image reference"},
		{"image reference with a short digest", ImageReference(), types.StringValue("registry.example.com/team/api@sha256:123"), "Malformed image reference"},
		{"exploit source file ok", ExploitSource(), types.StringValue("./kev.json"), ""},
		{"exploit source https ok", ExploitSource(), types.StringValue("https://feeds.example.com/kev.json"), ""},
		{"exploit source OCI ok", ExploitSource(), types.StringValue("registry.example.com/security/kev:latest"), ""},
		{"exploit source with credentials", ExploitSource(), types.StringValue("https://u:p@feeds.example.com/kev.json"), "Invalid exploit data source"},
		{"predicate type name ok", PredicateType(), types.StringValue("slsaprovenance1"), ""},
		{"predicate type URI ok", PredicateType(), types.StringValue("https://example.com/predicate/v1"), ""},
		{"predicate type unknown name", PredicateType(), types.StringValue("slsa"), "Invalid predicate_type"},
		{"unknown skipped", Severity(), types.StringUnknown(), ""},
		{"null skipped", Severity(), types.StringNull(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp validator.StringResponse
			tt.v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("x"), ConfigValue: tt.value}, &resp)
			switch {
			case tt.wantErr == "" && resp.Diagnostics.HasError():
				t.Fatalf("unexpected error %v", resp.Diagnostics)
			case tt.wantErr != "" && (!resp.Diagnostics.HasError() || !strings.Contains(resp.Diagnostics.Errors()[0].Summary(), tt.wantErr)):
				t.Fatalf("diagnostics %v, want %q", resp.Diagnostics, tt.wantErr)
			}
		})
	}
}

// The block validators count entries, not kinds: two `key` blocks are two
// signers under one name, and a key needs one of its two forms.
func TestBlockValidators(t *testing.T) {
	keyType := types.ObjectType{AttrTypes: map[string]attr.Type{"public_key_pem": types.StringType, "kms": types.StringType}}
	key := func(pem, kms types.String) attr.Value {
		return types.ObjectValueMust(keyType.AttrTypes, map[string]attr.Value{"public_key_pem": pem, "kms": kms})
	}
	list := func(n int) types.List {
		var elems []attr.Value
		for range n {
			elems = append(elems, key(types.StringValue("pem"), types.StringNull()))
		}
		return types.ListValueMust(keyType, elems)
	}
	authority := func(keys, keyless int) types.Object {
		return types.ObjectValueMust(map[string]attr.Type{"key": types.ListType{ElemType: keyType}, "keyless": types.ListType{ElemType: keyType}},
			map[string]attr.Value{"key": list(keys), "keyless": list(keyless)})
	}
	tests := []struct {
		name    string
		v       validator.Object
		value   types.Object
		wantErr string
	}{
		{"one key", ExactlyOneBlock("key", "keyless"), authority(1, 0), ""},
		{"two keys", ExactlyOneBlock("key", "keyless"), authority(2, 0), "it has 2 key blocks"},
		{"key and keyless", ExactlyOneBlock("key", "keyless"), authority(1, 1), "it has key and keyless"},
		{"no signer", ExactlyOneBlock("key", "keyless"), authority(0, 0), "it has none"},
		{"public key", ExactlyOneAttribute("public_key_pem", "kms"), key(types.StringValue("pem"), types.StringNull()).(types.Object), ""},
		{"kms", ExactlyOneAttribute("public_key_pem", "kms"), key(types.StringNull(), types.StringValue("hashivault://release")).(types.Object), ""},
		{"both", ExactlyOneAttribute("public_key_pem", "kms"), key(types.StringValue("pem"), types.StringValue("hashivault://release")).(types.Object), "it has `public_key_pem` and `kms`"},
		{"neither", ExactlyOneAttribute("public_key_pem", "kms"), key(types.StringNull(), types.StringValue("")).(types.Object), "it has neither"},
		{"unknown decided later", ExactlyOneAttribute("public_key_pem", "kms"), key(types.StringUnknown(), types.StringNull()).(types.Object), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp validator.ObjectResponse
			tt.v.ValidateObject(context.Background(), validator.ObjectRequest{Path: path.Root("x"), ConfigValue: tt.value}, &resp)
			switch {
			case tt.wantErr == "" && resp.Diagnostics.HasError():
				t.Fatalf("unexpected error %v", resp.Diagnostics)
			case tt.wantErr != "" && (!resp.Diagnostics.HasError() || !strings.Contains(resp.Diagnostics.Errors()[0].Detail(), tt.wantErr)):
				t.Fatalf("diagnostics %v, want %q", resp.Diagnostics, tt.wantErr)
			}
		})
	}
}
