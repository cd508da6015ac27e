// Package benchkit is what the fleet benchmark (bench/fleet) and the server
// parity check (bench/serverparity) share beyond the test harness
// (internal/acctest): the outputs of their terraform workspace
// (bench/testdata/fleet) and number formatting.
package benchkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/imageguard/terraform-provider-imageguard/internal/acctest"
)

// FleetWorkspace is the directory of the terraform configuration both use:
// one `data "imageguard_scan"` per image, in local or server mode, with
// every finding in the outputs.
const FleetWorkspace = "../testdata/fleet"

// Outputs is `terraform output -json` or a plan's planned output values.
type Outputs struct {
	IDs       map[string][]string
	Findings  map[string][]string
	Secrets   map[string][]string
	Platforms map[string][]string
	Digests   map[string]string
	DB        map[string]string
}

// ParseOutputs reads the workspace's outputs from a map of output name to
// {"value": ...} (terraform output -json, or a plan's
// planned_values.outputs).
func ParseOutputs(raw map[string]json.RawMessage) (*Outputs, error) {
	o := &Outputs{}
	for name, dst := range map[string]any{"ids": &o.IDs, "findings": &o.Findings, "secrets": &o.Secrets, "platforms": &o.Platforms, "digests": &o.Digests, "db": &o.DB} {
		msg, ok := raw[name]
		if !ok {
			return nil, fmt.Errorf("output %q missing", name)
		}
		var v struct{ Value json.RawMessage }
		if err := json.Unmarshal(msg, &v); err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
		if err := json.Unmarshal(v.Value, dst); err != nil {
			return nil, fmt.Errorf("output %q value: %w", name, err)
		}
	}
	return o, nil
}

// PlanOutputs runs `terraform show -json planFile` in dir and parses the
// planned outputs.
func PlanOutputs(tf *acctest.TerraformRunner, dir, planFile string) (*Outputs, error) {
	r := tf.Run(dir, acctest.RunOptions{Timeout: 3 * time.Minute}, "show", "-json", "-no-color", planFile)
	if !r.OK() {
		return nil, errors.New(r.String())
	}
	var plan struct {
		PlannedValues struct {
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &plan); err != nil {
		return nil, fmt.Errorf("terraform show -json: %w", err)
	}
	return ParseOutputs(plan.PlannedValues.Outputs)
}

// MiB formats bytes as MiB with two decimals (or bytes when small).
func MiB(n int64) string {
	if n < 10*1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}

// Secs formats a duration in seconds with one decimal.
func Secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// Tail is the last n bytes of s, marked as cut when it is.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// FirstLine is s up to its first newline.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// OrDash is s, or "-" when empty.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// SortedKeys are the keys of a set, sorted.
func SortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Diff is what only a and only b hold, each sorted.
func Diff(a, b map[string]bool) (onlyA, onlyB []string) {
	for k := range a {
		if !b[k] {
			onlyA = append(onlyA, k)
		}
	}
	for k := range b {
		if !a[k] {
			onlyB = append(onlyB, k)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return onlyA, onlyB
}
