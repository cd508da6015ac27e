package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// Condition is a compiled CEL expression over an attestation's predicate,
// e.g. `predicate.buildDefinition.externalParameters.workflow.repository ==
// "https://github.com/acme/api"`. It must evaluate to a bool.
type Condition struct {
	Expr string
	prg  cel.Program
}

// CompileCondition parses and type-checks a CEL expression. The only
// variable is `predicate`, the attestation's predicate as JSON values.
func CompileCondition(expr string) (*Condition, error) {
	env, err := cel.NewEnv(cel.Variable("predicate", cel.DynType))
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %s", expr, strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("the CEL expression %q gives a %s; a condition must give a bool", expr, t)
	}
	// A cost limit and interrupt checks bound what a condition may cost: a
	// hostile predicate or expression cannot hold the plan past its deadline.
	prg, err := env.Program(ast, cel.CostLimit(ConditionCostLimit), cel.InterruptCheckFrequency(conditionInterruptFrequency))
	if err != nil {
		return nil, fmt.Errorf("invalid CEL expression %q: %v", expr, err)
	}
	return &Condition{Expr: expr, prg: prg}, nil
}

// ConditionCostLimit bounds the CEL cost of one evaluation (cel-go's
// runtime cost units; comprehensions over large predicates hit it).
const ConditionCostLimit = 1_000_000

// conditionInterruptFrequency is how many comprehension iterations pass
// between checks of the context.
const conditionInterruptFrequency = 100

// Eval runs the condition on a predicate (raw JSON) within ctx's deadline.
// A runtime error (a missing field, the cost limit, the deadline) is false
// with the reason: fail closed.
func (c *Condition) Eval(ctx context.Context, predicate json.RawMessage) (bool, string) {
	var v any
	if len(predicate) > 0 {
		if err := json.Unmarshal(predicate, &v); err != nil {
			return false, fmt.Sprintf("the predicate is not JSON: %v", err)
		}
	}
	out, _, err := c.prg.ContextEval(ctx, map[string]any{"predicate": v})
	if err != nil {
		return false, fmt.Sprintf("condition %q could not be evaluated: %v", c.Expr, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Sprintf("condition %q gave %v, not a bool", c.Expr, out)
	}
	if !bool(b) {
		return false, fmt.Sprintf("condition %q is false", c.Expr)
	}
	return true, ""
}

// VerifiedAttestation is an attestation that verified for an authority.
type VerifiedAttestation struct {
	PredicateType string
	Predicate     json.RawMessage
}

// AuthorityOutcome is what verification found for one authority.
type AuthorityOutcome struct {
	Name string
	// Signatures is how many signatures verified for it.
	Signatures   int
	Attestations []VerifiedAttestation
	// PlatformAttestations holds, for an index, what verified on each
	// platform manifest (platform → attestations). An attestation rule that
	// the index's own attestations do not satisfy must hold on every one
	// of them: a runtime may pull any platform.
	PlatformAttestations map[string][]VerifiedAttestation
	// Reasons say why nothing verified, from the verifier.
	Reasons []string
}

// AttestationRule requires an attestation of a predicate type, optionally
// satisfying a condition and no older than MaxAge.
type AttestationRule struct {
	PredicateType string
	Condition     *Condition
	// MaxAge bounds the age of the predicate's own scan time (see
	// PredicateTime) at VerifyRules.Now; zero is off.
	MaxAge time.Duration
}

// VerifyRules are the signature gate's settings.
type VerifyRules struct {
	// RequireAll: every authority must verify (else any one suffices).
	RequireAll   bool
	Attestations []AttestationRule
	// Now is when the rules are judged (MaxAge).
	Now time.Time
}

// Predicate types whose predicate says when it was judged.
const (
	// VulnPredicateType is cosign's vulnerability predicate; its time is
	// metadata.scanFinishedOn.
	VulnPredicateType = "https://cosign.sigstore.dev/attestation/vuln/v1"
	// VerdictPredicateType is imageguard's verdict; its time is judgedAt.
	VerdictPredicateType = "https://imageguard.dev/verdict/v1"
)

// maxFutureSkew is how far in the future a predicate's time may be before
// it is not believed.
const maxFutureSkew = 5 * time.Minute

// HasPredicateTime reports whether max_age can be judged on a predicate type.
func HasPredicateTime(predicateType string) bool {
	return predicateType == VulnPredicateType || predicateType == VerdictPredicateType
}

// PredicateTime is when a predicate says it was judged: the vulnerability
// predicate's metadata.scanFinishedOn, the verdict's judgedAt.
func PredicateTime(predicateType string, predicate json.RawMessage) (time.Time, error) {
	var field string
	var doc struct {
		Metadata struct {
			ScanFinishedOn string `json:"scanFinishedOn"`
		} `json:"metadata"`
		JudgedAt string `json:"judgedAt"`
	}
	if err := json.Unmarshal(predicate, &doc); err != nil {
		return time.Time{}, fmt.Errorf("the predicate is not a JSON object: %v", err)
	}
	var raw string
	switch predicateType {
	case VulnPredicateType:
		field, raw = "metadata.scanFinishedOn", doc.Metadata.ScanFinishedOn
	case VerdictPredicateType:
		field, raw = "judgedAt", doc.JudgedAt
	default:
		return time.Time{}, fmt.Errorf("a %s predicate carries no scan time", predicateType)
	}
	if raw == "" {
		return time.Time{}, fmt.Errorf("the predicate has no %s", field)
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("the predicate's %s %q is not an RFC 3339 time", field, raw)
	}
	return t, nil
}

// checkAttestationAge holds when the predicate was judged within maxAge of now.
func checkAttestationAge(a VerifiedAttestation, maxAge time.Duration, now time.Time) (bool, string) {
	t, err := PredicateTime(a.PredicateType, a.Predicate)
	if err != nil {
		return false, "its age cannot be judged: " + err.Error()
	}
	switch age := now.Sub(t); {
	case age < -maxFutureSkew:
		return false, fmt.Sprintf("it is dated %s, in the future", t.UTC().Format(time.RFC3339))
	case age > maxAge:
		return false, fmt.Sprintf("it was judged %s, %s ago, older than max_age %s", t.UTC().Format(time.RFC3339), age.Round(time.Minute), maxAge)
	}
	return true, ""
}

// EvaluateVerify judges authorities' outcomes: an authority passes when it
// has a verified signature and, for each attestation rule, a verified
// attestation of that type whose predicate satisfies the condition.
func EvaluateVerify(ctx context.Context, outcomes []AuthorityOutcome, rules VerifyRules) []Violation {
	type verdict struct {
		name    string
		passed  bool
		reasons []string
	}
	var verdicts []verdict
	for _, o := range outcomes {
		v := verdict{name: o.Name, passed: true}
		if o.Signatures == 0 {
			v.passed = false
			if len(o.Reasons) == 0 {
				v.reasons = append(v.reasons, "no signature verified")
			}
			v.reasons = append(v.reasons, o.Reasons...)
		}
		for _, r := range rules.Attestations {
			ok, why := attestationSatisfied(ctx, o.Attestations, r, rules.Now)
			if !ok && len(o.PlatformAttestations) > 0 {
				ok, why = everyPlatformSatisfies(ctx, o.PlatformAttestations, r, rules.Now)
			}
			if !ok {
				v.passed = false
				v.reasons = append(v.reasons, why)
			}
		}
		verdicts = append(verdicts, v)
	}
	passed := 0
	for _, v := range verdicts {
		if v.passed {
			passed++
		}
	}
	if len(verdicts) > 0 && ((rules.RequireAll && passed == len(verdicts)) || (!rules.RequireAll && passed > 0)) {
		return nil
	}
	var out []Violation
	requires := "a verified signature from every authority"
	if !rules.RequireAll {
		requires = "a verified signature from at least one authority"
	}
	for _, v := range verdicts {
		if v.passed {
			continue
		}
		out = append(out, Violation{
			Rule:     "signature",
			Found:    fmt.Sprintf("authority %q did not verify: %s", v.name, strings.Join(v.reasons, "; ")),
			Requires: requires,
			Fix:      "sign the image (and attach the attestations) with this authority's key or identity, or correct the authority",
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Found < out[j].Found })
	return out
}

// everyPlatformSatisfies holds when each platform carries an attestation of
// the rule's type that satisfies its condition.
func everyPlatformSatisfies(ctx context.Context, perPlatform map[string][]VerifiedAttestation, r AttestationRule, now time.Time) (bool, string) {
	platforms := make([]string, 0, len(perPlatform))
	for p := range perPlatform {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	var failed []string
	for _, p := range platforms {
		if ok, why := attestationSatisfied(ctx, perPlatform[p], r, now); !ok {
			failed = append(failed, fmt.Sprintf("on platform %s: %s", p, why))
		}
	}
	if len(failed) > 0 {
		return false, strings.Join(failed, "; ")
	}
	return true, ""
}

func attestationSatisfied(ctx context.Context, have []VerifiedAttestation, r AttestationRule, now time.Time) (bool, string) {
	var reasons []string
	found := false
	for _, a := range have {
		if a.PredicateType != r.PredicateType {
			continue
		}
		found = true
		if r.MaxAge > 0 {
			if ok, why := checkAttestationAge(a, r.MaxAge, now); !ok {
				reasons = append(reasons, why)
				continue
			}
		}
		if r.Condition == nil {
			return true, ""
		}
		ok, why := r.Condition.Eval(ctx, a.Predicate)
		if ok {
			return true, ""
		}
		reasons = append(reasons, why)
	}
	if !found {
		return false, fmt.Sprintf("attestation of type %s missing", r.PredicateType)
	}
	return false, fmt.Sprintf("attestation of type %s present but %s", r.PredicateType, strings.Join(reasons, "; "))
}
