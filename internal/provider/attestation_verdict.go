package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// verdictSummary is the `verdict` attribute of a judgement.
func verdictSummary(pv pendingVerdict, diags *diag.Diagnostics) types.Object {
	s := pv.j.Summary()
	obj, d := types.ObjectValue(verdictAttrTypes, map[string]attr.Value{
		"result":     types.StringValue(s.Result),
		"db_version": types.StringValue(s.DBVersion),
		"findings":   countsValue(s.Findings),
		"ignored":    types.Int64Value(int64(s.Ignored)),
		"violations": types.Int64Value(int64(s.Violations)),
	})
	diags.Append(d...)
	return obj
}

// verdictDB is the database a recorded verdict names, for messages.
func verdictDB(v types.Object) string {
	if v.IsNull() || v.IsUnknown() {
		return "unknown"
	}
	if s, ok := v.Attributes()["db_version"].(types.String); ok && s.ValueString() != "" {
		return s.ValueString()
	}
	return "unknown"
}
