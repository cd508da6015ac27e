package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imageguard/terraform-provider-imageguard/internal/report"
)

// verdictSummary is the `verdict` attribute of a judgement.
func verdictSummary(pv pendingVerdict, diags *diag.Diagnostics) types.Object {
	sc := pv.j.Scan
	ignored := len(sc.Decision.Ignored)
	for _, r := range sc.Results {
		ignored += len(r.Suppressed)
	}
	violations := len(sc.Decision.Violations)
	result := "passed"
	if pv.j.Verify != nil {
		violations += len(pv.j.Verify.Violations)
	}
	if pv.j.Rules != nil {
		violations += len(pv.j.Rules.Violations)
	}
	if violations > 0 {
		result = "passed-with-warnings"
	}
	obj, d := types.ObjectValue(verdictAttrTypes, map[string]attr.Value{
		"result":     types.StringValue(result),
		"db_version": types.StringValue(sc.DB.Version()),
		"findings":   countsValue(report.SeverityCounts(sc.Findings())),
		"ignored":    types.Int64Value(int64(ignored)),
		"violations": types.Int64Value(int64(violations)),
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
