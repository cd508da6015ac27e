// Package validate holds imageguard's own attribute validators (platform,
// duration, date, severity, CEL condition, enumerations), shared by every
// data source, resource and nested block. Validators skip null and unknown
// values: those are checked again when the value is known.
package validate

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/imageguard/terraform-provider-imageguard/internal/gate"
	"github.com/imageguard/terraform-provider-imageguard/internal/policy"
)

// stringCheck adapts a parse function into a validator.String.
type stringCheck struct {
	summary, description string
	check                func(string) error
}

func (c stringCheck) Description(context.Context) string         { return c.description }
func (c stringCheck) MarkdownDescription(context.Context) string { return c.description }

func (c stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := c.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, c.summary, sentence(err.Error()))
	}
}

func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// Platform accepts `os/arch[/variant]`, e.g. `linux/arm64/v8`.
func Platform() validator.String {
	return stringCheck{"Invalid platform", "a platform as os/arch[/variant]", func(s string) error {
		_, err := gate.ParsePlatform(s)
		return err
	}}
}

// Duration accepts a positive Go duration, e.g. `72h`.
func Duration() validator.String {
	return stringCheck{"Invalid duration", "a positive Go duration, e.g. 72h", func(s string) error {
		_, err := policy.ParseDuration(s)
		return err
	}}
}

// Date accepts a day as `YYYY-MM-DD`.
func Date() validator.String {
	return stringCheck{"Invalid date", "a date as YYYY-MM-DD", func(s string) error {
		_, err := policy.ParseDate(s)
		return err
	}}
}

// Severity accepts Trivy's severities.
func Severity() validator.String {
	return stringCheck{"Invalid severity", "UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL", func(s string) error {
		_, err := policy.ParseSeverity(s)
		return err
	}}
}

// Condition accepts a CEL expression over `predicate` that gives a bool.
func Condition() validator.String {
	return stringCheck{"Invalid CEL condition", "a CEL expression over predicate that gives a bool", func(s string) error {
		if _, err := policy.CompileCondition(s); err != nil {
			return fmt.Errorf("%w. The predicate is available as `predicate`", err)
		}
		return nil
	}}
}

// Enforcement accepts `error` or `warn`.
func Enforcement() validator.String { return stringvalidator.OneOf("error", "warn") }

// OneOf accepts exactly the given values.
func OneOf(values ...string) validator.String { return stringvalidator.OneOf(values...) }

// PredicateType accepts a cosign predicate type name (`slsaprovenance1`,
// `spdxjson`, `vuln`, …) or a predicate type URI.
func PredicateType() validator.String {
	return stringCheck{"Invalid predicate_type", "a cosign predicate type name or a predicate type URI", func(s string) error {
		_, err := gate.PredicateTypeURI(s)
		return err
	}}
}
