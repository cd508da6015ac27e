package provider

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// TestValidationReportsEachBadValueOnce validates configurations with bad
// enumerations and formats through the provider protocol, as terraform
// validate does: each bad value is one error at its attribute, from the
// schema's validator, not a second one from the conversion behind it.
func TestValidationReportsEachBadValueOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, schemas := protocolServer(t)
	authority := []map[string]any{{"name": "ci", "key": []map[string]any{{"kms": "hashivault://release"}}}}
	scanBlock := map[string]any{"severity_threshold": "SEVERE", "scanners": []string{"vuln", "bogus"}, "enforcement": "loud",
		"ignore": []map[string]any{{"id": "CVE-2024-1", "reason": "accepted", "expires": "tomorrow"}}}
	cases := []struct {
		name, kind, typeName string
		config               map[string]any
		want                 []string // attribute paths with exactly one error each
	}{
		{"imageguard_scan", "data", "imageguard_scan",
			map[string]any{"image": "registry.example.com/app:1", "platforms": []string{"linux"}, "severity_threshold": "SEVERE", "scanners": []string{"bogus"},
				"pkg_types": []string{"os", "kernel"}, "enforcement": "loud", "ignore": []map[string]any{{"id": "CVE-2024-1", "reason": "r", "expires": "2026-13-40"}}},
			[]string{"enforcement", "ignore[0].expires", "pkg_types[1]", "platforms[0]", "scanners[0]", "severity_threshold"}},
		{"imageguard_verify", "data", "imageguard_verify",
			map[string]any{"image": "registry.example.com/app:1", "require": "most", "tlog": "maybe", "enforcement": "loud", "authority": authority,
				"attestation": []map[string]any{{"predicate_type": "vuln", "condition": "predicate.(", "max_age": "soon"}}},
			[]string{"attestation[0].condition", "attestation[0].max_age", "enforcement", "require", "tlog"}},
		{"imageguard_pin", "resource", "imageguard_pin",
			map[string]any{"ref": "registry.example.com/app:1", "on_tag_move": "sometimes", "scan": []map[string]any{scanBlock},
				"verify": []map[string]any{{"tlog": "maybe", "authority": authority}}, "policy": []map[string]any{{"max_image_age": "old", "enforcement": "loud"}}},
			[]string{"on_tag_move", "policy.enforcement", "policy.max_image_age", "scan.enforcement", "scan.ignore[0].expires", "scan.scanners[1]", "scan.severity_threshold", "verify.tlog"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var diags []*tfprotov6.Diagnostic
			if tc.kind == "data" {
				cfg := hostileConfigValue(t, schemas.DataSourceSchemas[tc.typeName].Block, tc.config)
				resp, err := srv.ValidateDataResourceConfig(ctx, &tfprotov6.ValidateDataResourceConfigRequest{TypeName: tc.typeName, Config: &cfg})
				if err != nil {
					t.Fatal(err)
				}
				diags = resp.Diagnostics
			} else {
				cfg := hostileConfigValue(t, schemas.ResourceSchemas[tc.typeName].Block, tc.config)
				resp, err := srv.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: tc.typeName, Config: &cfg})
				if err != nil {
					t.Fatal(err)
				}
				diags = resp.Diagnostics
			}
			perPath := map[string][]string{}
			for _, d := range diags {
				if d.Severity != tfprotov6.DiagnosticSeverityError {
					continue
				}
				p := attributePathString(d)
				perPath[p] = append(perPath[p], d.Summary+": "+d.Detail)
			}
			var got []string
			for p, msgs := range perPath {
				got = append(got, p)
				if len(msgs) != 1 {
					t.Errorf("%s has %d errors, want one:\n  %s", p, len(msgs), strings.Join(msgs, "\n  "))
				}
			}
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("errors at %v, want at %v\n%v", got, tc.want, perPath)
			}
		})
	}
}

// attributePathString renders a diagnostic's attribute path as HCL would
// name it: scan.ignore[0].expires.
func attributePathString(d *tfprotov6.Diagnostic) string {
	if d.Attribute == nil {
		return "(no attribute)"
	}
	var b strings.Builder
	for _, step := range d.Attribute.Steps() {
		switch s := step.(type) {
		case tftypes.AttributeName:
			if b.Len() > 0 {
				b.WriteString(".")
			}
			b.WriteString(string(s))
		case tftypes.ElementKeyInt:
			b.WriteString("[" + strconv.FormatInt(int64(s), 10) + "]")
		default:
			b.WriteString("[?]")
		}
	}
	return b.String()
}
